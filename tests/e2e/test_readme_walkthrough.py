"""The README's walk-through config, appended to what `connector init` writes, passes
`connector check` against the emulators, and a wrong key is named with its host (so the README
block cannot drift from the settings models or the check's wording)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cdp_hubspot.emulator import HubSpotEmulator
from cdp_klaviyo.emulator import KlaviyoEmulator
from connector.cli.app import app
from connector.plugin.spec import EmulatorOptions

README = Path(__file__).resolve().parents[2] / "README.md"


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    with HubSpotEmulator(EmulatorOptions()) as hub, KlaviyoEmulator(EmulatorOptions()) as kl:
        monkeypatch.chdir(tmp_path)
        assert CliRunner().invoke(app, ["init"]).exit_code == 0
        (tmp_path / "data").mkdir()
        block = re.search(r"```toml\n(\[sources\.crm\].*?)```", README.read_text(), re.S)
        assert block, "the README walk-through's TOML block"
        text = block.group(1).replace("http://127.0.0.1:8710", hub.base_url)
        text = text.replace("http://127.0.0.1:8711", kl.base_url)
        with (tmp_path / "connector.toml").open("a") as cfg:
            cfg.write("\n" + text)
        yield tmp_path


def _check(key: str) -> tuple[int, str]:
    env = {"HUBSPOT_TOKEN": "pat-try-it", "KLAVIYO_API_KEY": key}
    result = CliRunner().invoke(app, ["check"], env=env)
    return result.exit_code, result.output


@pytest.mark.usefixtures("workdir")
def test_the_readme_config_passes_check_and_a_wrong_key_names_the_host() -> None:
    code, out = _check("pk_try_it")
    assert code == 0, out
    for name in (
        "sources.crm",
        "sources.email",
        "destinations.hubspot_out",
        "destinations.klaviyo_out",
    ):
        assert re.search(rf"ok +{re.escape(name)} \(\w+\) .* at 127\.0\.0\.1:\d+: HTTP 200", out)
    code, out = _check("wrong")
    assert code == 1
    assert re.search(r"FAIL sources\.email \(klaviyo\) metrics at 127\.0\.0\.1:\d+: HTTP 401", out)
    assert "fix: check api_key" in out
