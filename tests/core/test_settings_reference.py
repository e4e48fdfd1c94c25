"""The settings reference comes from the models: docs/SETTINGS.md is current, every plugin
setting is described, config.example.toml has a block per plugin that the models accept,
`plugins show NAME` lists every setting and `config show` says where each value came from."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from connector.cli.app import app
from connector.config import load_config
from connector.config.reference import example_blocks, plugin_settings, reference_markdown
from connector.plugin.registry import PluginRegistry

ROOT = Path(__file__).resolve().parents[2]
SPECS = sorted(PluginRegistry().load_all()[0], key=lambda s: s.name)


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "connector", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, "COLUMNS": "250", **(env or {})},
    )


def test_the_reference_page_is_current() -> None:
    assert (ROOT / "docs" / "SETTINGS.md").read_text() == reference_markdown(), (
        "regenerate: python -m connector.config.reference > docs/SETTINGS.md"
    )


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name)
def test_every_plugin_setting_has_type_default_description_and_example(spec: object) -> None:
    settings = plugin_settings(spec)  # type: ignore[arg-type]
    assert [s.key for s in settings] == list(spec.settings_model.model_fields)  # type: ignore[attr-defined]
    for s in settings:
        assert s.type
        assert s.default
        assert s.description, f"{spec.name}.{s.key} has no description"  # type: ignore[attr-defined]
        if s.required:
            assert s.example, f"{spec.name}.{s.key}: required, but no example in the example config"  # type: ignore[attr-defined]
    page = reference_markdown()
    assert f"## Plugin `{spec.name}`" in page  # type: ignore[attr-defined]


def test_the_example_config_has_a_block_per_plugin_that_the_models_accept(
    tmp_path: Path,
) -> None:
    blocks = example_blocks()
    assert {s.name for s in SPECS} <= set(blocks), "a plugin has no block in config.example.toml"
    for spec in SPECS:
        assert any("base_url" in body for _k, _n, body in blocks[spec.name]) or (
            "base_url" not in spec.settings_model.model_fields
        ), f"{spec.name}: the example does not show base_url"
    env: dict[str, str] = {}
    lines = ['[workspace]\npath = "ws"\n']
    for plugin, found in blocks.items():
        for kind, name, body in found:
            lines.append(f"[{kind}.{name}]")
            for key, value in body.items():
                if isinstance(value, dict) and set(value) == {"env"}:
                    env[value["env"]] = f"example-{key}"
                    lines.append(f'{key} = {{ env = "{value["env"]}" }}')
                else:
                    lines.append(f"{key} = {_toml(value)}")
            lines.append("")
        assert plugin
    cfg = tmp_path / "connector.toml"
    cfg.write_text("\n".join(lines))
    loaded = load_config(cfg, env=env)  # every key known to its model, every value valid
    plugins = {s.plugin for s in (*loaded.sources.values(), *loaded.destinations.values())}
    assert plugins == {s.name for s in SPECS}


def _toml(value: object) -> str:
    import json

    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {_toml(v)}" for k, v in value.items()) + " }"
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    return json.dumps(value)


def test_plugins_show_lists_every_setting() -> None:
    result = _cli("plugins", "show", "meta")
    assert result.returncode == 0, result.stderr
    from cdp_meta import MetaSettings

    for key in MetaSettings.model_fields:
        assert f"│ {key} " in result.stdout
    assert '{ env = "META_ACCESS_TOKEN" }' in result.stdout
    google = _cli("plugins", "show", "google_ads")
    assert '"1234567890"' in google.stdout, "an example account id is not a phone number"
    assert "[phone]" not in google.stdout
    unknown = CliRunner().invoke(app, ["plugins", "show", "nope"])
    assert unknown.exit_code == 2


def test_config_show_says_where_each_setting_came_from(tmp_path: Path) -> None:
    cfg = tmp_path / "connector.toml"
    cfg.write_text(
        """
[identity]
default_region = "GB"

[sources.crm]
plugin = "hubspot"
access_token = { env = "UX_HUBSPOT_TOKEN" }

[destinations.email]
plugin = "klaviyo"

[destinations.ads]
plugin = "google_ads"
operating_account_id = "1234567890"
client_id = "1234.apps.googleusercontent.com"
client_secret = { env = "UX_GOOGLE_SECRET" }
refresh_token = { env = "UX_GOOGLE_REFRESH" }
"""
    )
    secrets = tmp_path / "connector.secrets.toml"
    secrets.write_text('[destinations.email]\napi_key = "pk_from_the_secrets_file_123"\n')
    secrets.chmod(0o600)
    done = _cli(
        "config",
        "show",
        "--config",
        str(cfg),
        "-o",
        "json",
        env={
            "UX_HUBSPOT_TOKEN": "pat-na1-from-env-456",
            "CONNECTOR_WORKSPACE": str(tmp_path / "w"),
        },
    )
    assert done.returncode == 0, done.stderr
    assert "pat-na1-from-env-456" not in done.stdout
    assert "pk_from_the_secrets_file_123" not in done.stdout
    import json

    rows = {r["setting"]: (r["value"], r["from"]) for r in json.loads(done.stdout)}
    assert rows["identity.default_region"] == ('"GB"', "file")
    assert rows["identity.max_ids_per_kind"] == ("5", "default")
    assert rows["sources.crm.access_token"] == ("[secret]", "env UX_HUBSPOT_TOKEN")
    assert rows["destinations.email.api_key"] == ("[secret]", "secrets file")
    assert rows["destinations.email.base_url"] == ('"https://a.klaviyo.com"', "default")
    assert rows["workspace.path"][1] == "env CONNECTOR_WORKSPACE"
    # a setting's own value is shown as written: an account id is no phone number, and the
    # placeholder addresses identity never joins on are no one's e-mail
    assert rows["destinations.ads.operating_account_id"] == ('"1234567890"', "file")
    assert '"test@example.com"' in rows["identity.blocked_values"][0]
    table = _cli("config", "show", "--config", str(cfg), env={"COLUMNS": "250"})
    assert "1234567890" in table.stdout
    assert "[phone]" not in table.stdout
    unset = _cli("config", "show", "--config", str(cfg), "-o", "json")
    assert unset.returncode == 0, "config show needs no secrets"
    rows = {r["setting"]: r["value"] for r in json.loads(unset.stdout)}
    assert rows["sources.crm.access_token"] == "not set ($UX_HUBSPOT_TOKEN)"


def test_init_then_check_names_the_file(tmp_path: Path) -> None:
    target = tmp_path / "connector.toml"
    assert _cli("init", "--config", str(target)).returncode == 0
    first = _cli("check", "--config", str(target))
    assert first.returncode == 2
    assert f"{target}: sources.shop.path: directory data does not exist" in first.stderr
