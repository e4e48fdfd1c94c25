"""Config errors stop with one line naming the key (and file), exit code 2, no traceback."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import BaseModel, ConfigDict, SecretStr
from tests.conftest import write_config

from connector.config import load_config
from connector.errors import ConfigError
from connector.plugin.registry import PluginRegistry
from connector.plugin.spec import Capability, PluginSpec


class TokenSettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    token: SecretStr
    base_url: str = "http://127.0.0.1:1"


class _EP:
    """An entry point stand-in for a plugin defined in this test module."""

    def __init__(self, name: str, obj: object) -> None:
        self.name, self.value, self._obj = name, f"tests:{name}", obj

    def load(self) -> object:
        if isinstance(self._obj, Exception):
            raise self._obj
        return self._obj


SECRET_SPEC = PluginSpec("vault", "test", frozenset({Capability.SINK_TRAITS}), TokenSettings)


class ArchiveSettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    archive_url: str = "s3://bucket/logs"
    storage_options: dict[str, str] = {}


ARCHIVE_SPEC = PluginSpec("archive", "test", frozenset({Capability.SINK_TRAITS}), ArchiveSettings)


def _registry(*extra: _EP) -> PluginRegistry:
    from importlib.metadata import entry_points

    files = list(entry_points(group="cdp_connector.plugins", name="files"))
    return PluginRegistry(
        [*files, _EP("vault", SECRET_SPEC), _EP("archive", ARCHIVE_SPEC), *extra]  # type: ignore[list-item]
    )


def _cli(
    cfg: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "connector", "check", "--config", str(cfg), *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, "COLUMNS": "200", **(env or {})},
    )


@pytest.mark.parametrize(
    ("extra", "key", "message"),
    [
        ("[identity]\nmax_ids_per_kind = 5\nbogus = 1\n", "identity.bogus", "unknown key"),
        (
            '[sources.more]\nplugin = "files"\npath = "data"\npathh = "x"\n',
            "sources.more.pathh",
            "unknown key",
        ),
        (
            '[sources.more]\nplugin = "files"\npath = "data"\nbatch_size = "lots"\n',
            "sources.more.batch_size",
            "integer",
        ),
        (
            '[sources.more]\nplugin = "files"\nlookback = "soon"\npath = "data"\n',
            "sources.more.lookback",
            "duration",
        ),
        ('[sources.more]\nplugin = "nope"\n', "sources.more.plugin", "unknown plugin"),
    ],
)
def test_config_errors_exit_2_with_one_line_naming_the_key(
    tmp_path: Path, extra: str, key: str, message: str
) -> None:
    cfg = write_config(tmp_path)
    text = (
        cfg.read_text().replace('[identity]\ndefault_region = "GB"\n', "")
        if extra.startswith("[identity]")
        else cfg.read_text()
    )
    cfg.write_text(text + "\n" + extra)
    result = _cli(cfg)
    assert result.returncode == 2, result.stdout + result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert key in lines[0]
    assert message in lines[0]
    assert str(cfg) in lines[0]
    assert "Traceback" not in result.stderr


def test_wrong_type_in_core_section(tmp_path: Path) -> None:
    cfg = write_config(tmp_path)
    cfg.write_text(cfg.read_text().replace('default_region = "GB"', "default_region = 44"))
    result = _cli(cfg)
    assert result.returncode == 2
    assert "identity.default_region" in result.stderr
    assert "string" in result.stderr


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    result = _cli(tmp_path / "absent.toml")
    assert result.returncode == 2
    assert "not found" in result.stderr
    assert "connector init" in result.stderr


def test_missing_secret_names_key_and_variable(tmp_path: Path) -> None:
    cfg = write_config(
        tmp_path, '\n[destinations.vault]\nplugin = "vault"\ntoken = { env = "CDP_TEST_TOKEN_X" }\n'
    )
    with pytest.raises(
        ConfigError,
        match=r"destinations\.vault\.token: environment variable CDP_TEST_TOKEN_X is not set",
    ):
        load_config(cfg, registry=_registry(), env={})


def test_literal_secret_in_config_file_is_refused(tmp_path: Path) -> None:
    cfg = write_config(
        tmp_path, '\n[destinations.vault]\nplugin = "vault"\ntoken = "pat-na1-abc"\n'
    )
    with pytest.raises(
        ConfigError, match=r"destinations\.vault\.token: secrets must not be written"
    ):
        load_config(cfg, registry=_registry(), env={})


def test_secret_from_env_and_from_secrets_file(tmp_path: Path) -> None:
    cfg = write_config(
        tmp_path, '\n[destinations.vault]\nplugin = "vault"\ntoken = { env = "CDP_TOKEN" }\n'
    )
    loaded = load_config(cfg, registry=_registry(), env={"CDP_TOKEN": "tok-from-env"})
    settings = loaded.destinations["vault"].settings
    assert settings.token.get_secret_value() == "tok-from-env"
    assert "tok-from-env" not in repr(settings)
    assert "tok-from-env" not in str(loaded)

    cfg2 = write_config(tmp_path / "b", '\n[destinations.vault]\nplugin = "vault"\n')
    secrets = tmp_path / "secrets.toml"
    secrets.write_text('[destinations.vault]\ntoken = "tok-from-file"\n')
    loaded2 = load_config(cfg2, secrets_path=secrets, registry=_registry(), env={})
    assert loaded2.destinations["vault"].settings.token.get_secret_value() == "tok-from-file"
    secrets.write_text('[destinations.vault]\nbase_url = "http://x"\n')
    with pytest.raises(ConfigError, match="not a secret setting"):
        load_config(cfg2, secrets_path=secrets, registry=_registry(), env={})


def test_broken_plugin_is_reported_and_skipped() -> None:
    registry = _registry(_EP("broken", ImportError("No module named 'left_pad'")), _EP("weird", 42))
    specs, broken = registry.load_all()
    assert {s.name for s in specs} == {"files", "vault", "archive"}
    assert {b.name: b.reason for b in broken} == {
        "broken": "ImportError: No module named 'left_pad'",
        "weird": "tests:weird is a int, not a PluginSpec",
    }
    with pytest.raises(ConfigError, match="plugin 'broken' is broken"):
        registry.get("broken")


def test_init_writes_the_documented_example(tmp_path: Path) -> None:
    target = tmp_path / "connector.toml"
    done = subprocess.run(
        [sys.executable, "-m", "connector", "init", "--config", str(target)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    repo_example = Path(__file__).resolve().parents[2] / "config.example.toml"
    assert target.read_text() == repo_example.read_text()
    again = subprocess.run(
        [sys.executable, "-m", "connector", "init", "--config", str(target)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert again.returncode == 2
    assert "already exists" in again.stderr
    (tmp_path / "data").mkdir()
    checked = _cli(target)
    assert checked.returncode == 0, checked.stderr


def test_the_wheel_ships_the_one_example() -> None:
    """The root example is the only copy; the wheel maps it where `connector init` looks."""
    import tomllib

    from connector.config.example import PACKAGED

    repo = Path(__file__).resolve().parents[2]
    pyproject = tomllib.loads((repo / "pyproject.toml").read_text())
    mapped = pyproject["tool"]["hatch"]["build"]["targets"]["wheel"]["force-include"]
    assert mapped == {"config.example.toml": f"connector/config/{PACKAGED}"}
    assert not (repo / "connector" / "config" / PACKAGED).exists()


@pytest.mark.parametrize(
    ("extra", "key"),
    [
        (
            '[workspace]\nstate_url = "postgresql://cdp:pw-in-file@db/cdp"\n',
            "workspace.state_url: a database password must not be written",
        ),
        (
            '[destinations.vault]\nplugin = "vault"\ntoken = { env = "T" }\n'
            'base_url = "https://user:pw-in-url@proxy.example.com"\n',
            "destinations.vault.base_url: credentials must not be written in a URL",
        ),
        (
            '[destinations.vault]\nplugin = "vault"\ntoken = { env = "T" }\n'
            'base_url = "https://apikey123@proxy.example.com"\n',
            "destinations.vault.base_url: credentials must not be written in a URL",
        ),
        (
            '[destinations.store]\nplugin = "archive"\n'
            'storage_options = { key = "AKIA123", secret = "s3-secret" }\n',
            "destinations.store.storage_options.key: secrets must not be written",
        ),
        (
            '[destinations.store]\nplugin = "archive"\n'
            'storage_options = { endpoint_url = "https://u:p@minio.local" }\n',
            "storage_options.endpoint_url: credentials must not be written in a URL",
        ),
    ],
)
def test_secrets_in_urls_and_storage_options_are_refused(
    tmp_path: Path, extra: str, key: str
) -> None:
    text = write_config(tmp_path).read_text().replace('[workspace]\npath = ".connector"\n', "")
    cfg = tmp_path / "connector.toml"
    cfg.write_text(text + "\n" + extra)
    with pytest.raises(ConfigError, match=re.escape(key)):
        load_config(cfg, registry=_registry(), env={"T": "tok"})


def test_state_url_and_storage_options_from_env_or_secrets_file(tmp_path: Path) -> None:
    from connector.redaction import redact

    cfg = write_config(
        tmp_path,
        '\n[destinations.store]\nplugin = "archive"\n'
        'storage_options = { key = { env = "AWS_KEY" }, region = "eu-west-1" }\n',
    )
    cfg.write_text(
        cfg.read_text().replace(
            'path = ".connector"\n', 'path = ".connector"\nstate_url = { env = "STATE_URL" }\n', 1
        )
    )
    env = {"STATE_URL": "postgresql://cdp:pg-Secret-77@db/cdp", "AWS_KEY": "AKIAEXAMPLE0001"}
    loaded = load_config(cfg, registry=_registry(), env=env)
    assert loaded.workspace.state_url == env["STATE_URL"]
    options = loaded.destinations["store"].settings.storage_options
    assert options == {"key": "AKIAEXAMPLE0001", "region": "eu-west-1"}
    assert "pg-Secret-77" not in redact(f"could not connect to {env['STATE_URL']}")
    assert "AKIAEXAMPLE0001" not in redact("s3 refused AKIAEXAMPLE0001")

    cfg2 = write_config(tmp_path / "b", '\n[destinations.store]\nplugin = "archive"\n')
    secrets = tmp_path / "secrets.toml"
    secrets.write_text(
        '[workspace]\nstate_url = "postgresql://cdp:file-Secret-88@db/cdp"\n'
        '[destinations.store.storage_options]\nsecret = "from-file-secret-99"\n'
    )
    secrets.chmod(0o600)
    loaded2 = load_config(cfg2, secrets_path=secrets, registry=_registry(), env={})
    assert loaded2.workspace.state_url == "postgresql://cdp:file-Secret-88@db/cdp"
    assert loaded2.destinations["store"].settings.storage_options == {
        "secret": "from-file-secret-99"
    }
    assert "file-Secret-88" not in redact("postgresql://x:file-Secret-88@y")


@pytest.mark.parametrize(("mode", "warned"), [(0o644, "others"), (0o640, "its group"), (0o600, "")])
def test_a_secrets_file_others_can_read_is_warned_about(
    tmp_path: Path, mode: int, warned: str
) -> None:
    cfg = write_config(tmp_path, '\n[destinations.vault]\nplugin = "files"\npath = "out2"\n')
    secrets = tmp_path / "connector.secrets.toml"
    secrets.write_text("")
    secrets.chmod(mode)
    result = _cli(cfg)
    assert result.returncode == 0, result.stderr
    if warned:
        assert f"readable by {warned}" in result.stderr
        assert f"chmod 600 {secrets}" in result.stderr
    else:
        assert "readable by" not in result.stderr


def test_an_old_setting_name_is_warned_in_the_chosen_log_format(tmp_path: Path) -> None:
    """A renamed HTTP knob is accepted with a warning that follows ``--log-format`` (it was
    printed as plain text before logging was set up, breaking JSON logs)."""
    import json

    cfg = write_config(
        tmp_path,
        '\n[sources.crm]\nplugin = "hubspot"\naccess_token = { env = "HS_TOKEN" }\n'
        "timeout_seconds = 2\n",
    )
    done = _cli(cfg, "--log-format", "json", env={"HS_TOKEN": "pat-na1-test"})
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    records = [json.loads(line) for line in lines]  # every line is JSON
    assert any("'timeout_seconds' is deprecated" in r["message"] for r in records), done.stderr
