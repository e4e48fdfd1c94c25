"""`connector check` calls each platform once: a wrong port and a wrong token are caught, each
with the host named and what to fix, and `--offline` calls nothing."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from cdp_hubspot.emulator import HubSpotEmulator
from cdp_klaviyo.emulator import KlaviyoEmulator
from connector.cli.app import app
from connector.plugin.spec import EmulatorOptions
from connector.testing.platform import platform_requests

HUBSPOT_TOKEN = "pat-na1-check-token"
KLAVIYO_KEY = "pk_check_key"


@pytest.fixture
def platforms() -> Iterator[tuple[HubSpotEmulator, KlaviyoEmulator]]:
    with HubSpotEmulator(EmulatorOptions()) as hub, KlaviyoEmulator(EmulatorOptions()) as kl:
        yield hub, kl


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def _config(root: Path, hubspot_url: str, klaviyo_url: str) -> Path:
    cfg = root / "connector.toml"
    cfg.write_text(
        f"""
[workspace]
path = ".connector"

[sources.crm]
plugin = "hubspot"
base_url = "{hubspot_url}"
access_token = {{ env = "HUBSPOT_TOKEN" }}

[destinations.email]
plugin = "klaviyo"
base_url = "{klaviyo_url}"
api_key = {{ env = "KLAVIYO_KEY" }}
"""
    )
    return cfg


def _check(cfg: Path, *args: str, token: str = HUBSPOT_TOKEN) -> tuple[int, str]:
    env = {"HUBSPOT_TOKEN": token, "KLAVIYO_KEY": KLAVIYO_KEY}
    result = CliRunner().invoke(app, ["check", "--config", str(cfg), *args], env=env)
    return result.exit_code, " ".join(result.output.split())


def test_good_settings_pass(
    tmp_path: Path, platforms: tuple[HubSpotEmulator, KlaviyoEmulator]
) -> None:
    hub, kl = platforms
    code, out = _check(_config(tmp_path, hub.base_url, kl.base_url))
    assert code == 0, out
    assert f"ok sources.crm (hubspot) contact properties at {hub.base_url[7:]}: HTTP 200" in out
    assert f"ok destinations.email (klaviyo) lists at {kl.base_url[7:]}: HTTP 200" in out


def test_wrong_port_is_caught_with_the_host_named(
    tmp_path: Path, platforms: tuple[HubSpotEmulator, KlaviyoEmulator]
) -> None:
    _hub, kl = platforms
    dead = f"127.0.0.1:{_closed_port()}"
    cfg = _config(tmp_path, f"http://{dead}", kl.base_url)
    code, out = _check(cfg)
    assert code == 1
    assert f"FAIL sources.crm (hubspot) contact properties at {dead}: no answer" in out
    assert f"cannot connect to {dead}" in out
    assert f"fix: check base_url: is {dead} the right host and port" in out
    assert "ok destinations.email (klaviyo)" in out, "one failure does not hide the others"
    assert str(cfg) in out, "the summary names the file to edit"


def test_wrong_token_is_caught_with_the_host_named(
    tmp_path: Path, platforms: tuple[HubSpotEmulator, KlaviyoEmulator]
) -> None:
    hub, kl = platforms
    hub.revoked_tokens.add("pat-na1-revoked")
    cfg = _config(tmp_path, hub.base_url, kl.base_url)
    code, out = _check(cfg, token="pat-na1-revoked")
    assert code == 1
    host = hub.base_url[7:]
    assert f"FAIL sources.crm (hubspot) contact properties at {host}: HTTP 401" in out
    assert "fix: check access_token: mistyped, expired or revoked" in out
    assert "pat-na1-revoked" not in out
    assert len(platform_requests(hub)) == 1, "a check asks once, with no retries"


def test_offline_calls_nothing(
    tmp_path: Path, platforms: tuple[HubSpotEmulator, KlaviyoEmulator]
) -> None:
    hub, kl = platforms
    code, out = _check(_config(tmp_path, hub.base_url, kl.base_url), "--offline")
    assert code == 0, out
    assert "ok sources.crm (hubspot)" in out
    assert platform_requests(hub) == []
    assert platform_requests(kl) == []


def test_a_run_against_a_wrong_port_names_the_host(tmp_path: Path) -> None:
    """Issue 18: a run's failure read 'connection failed (MaxRetryError)', with no host."""
    from connector.config import load_config
    from connector.pipeline import Workspace, run_pipeline

    dead = f"127.0.0.1:{_closed_port()}"
    cfg = tmp_path / "connector.toml"
    cfg.write_text(
        f"""
[workspace]
path = ".connector"

[model]
engine = "rfm"

[sources.crm]
plugin = "hubspot"
base_url = "http://{dead}"
access_token = {{ env = "HUBSPOT_TOKEN" }}
max_attempts = 1
"""
    )
    ws = Workspace(load_config(cfg, env={"HUBSPOT_TOKEN": HUBSPOT_TOKEN}))
    try:
        summary = run_pipeline(ws)
    finally:
        ws.close()
    assert summary.status == "partial"
    assert any(f"cannot reach {dead}" in f for f in summary.failures), summary.failures


@pytest.mark.parametrize(
    ("status", "says", "fix"),
    [
        (403, "HTTP 403, the credentials lack a permission", "lists:read, lists:write"),
        (404, "HTTP 404, not found", "fix: check base_url"),
        (503, "HTTP 503, the platform failed", "fix: try again later"),
    ],
)
def test_each_refusal_says_what_to_fix(
    tmp_path: Path,
    platforms: tuple[HubSpotEmulator, KlaviyoEmulator],
    status: int,
    says: str,
    fix: str,
) -> None:
    hub, kl = platforms
    rule = {"path": "/api/lists", "status": status, "rate": 1.0}
    httpx.post(f"{kl.base_url}/__emulator__/faults", json={"rules": [rule]})
    code, out = _check(_config(tmp_path, hub.base_url, kl.base_url))
    assert code == 1
    assert f"FAIL destinations.email (klaviyo) lists at {kl.base_url[7:]}: {says}" in out
    assert fix in out


@pytest.mark.parametrize(
    ("error", "status"),
    [
        ({"code": 190, "message": "Invalid OAuth access token."}, 401),
        ({"code": 200, "message": "Requires ads_management permission"}, 403),
        ({"code": 100, "error_subcode": 33, "message": "Object does not exist"}, 404),
        ({"code": 100, "message": "Invalid parameter"}, 400),
    ],
)
def test_meta_graph_errors_mean_what_they_say(error: dict[str, object], status: int) -> None:
    from cdp_meta.check import graph_status

    answer = httpx.Response(400, json={"error": {"type": "OAuthException", **error}})
    assert graph_status(answer) == status
