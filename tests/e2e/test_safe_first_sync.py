"""Safe first syncs against the HubSpot and Klaviyo emulators: the plan splits upserts into
creates and updates before anything is sent, ``mode = "update_only"`` never creates a contact or
profile, and a first sync that would create more than ``sync.max_first_creates`` records is held
until confirmed."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.conftest import write_config

from cdp_hubspot.emulator import HubSpotEmulator
from cdp_klaviyo.emulator import KlaviyoEmulator
from connector.config import load_config
from connector.pipeline import Workspace, run_pipeline
from connector.pipeline.runner import RunSummary
from connector.plugin.spec import EmulatorOptions

HUBSPOT_TOKEN = "pat-na1-safe-sync-1"
KLAVIYO_KEY = "pk_safe_sync_1"
HELD = 30  # people the platform already holds; the files hold 30 more it does not


def _people(n: int) -> list[dict[str, str]]:
    return [
        {"email": f"person{i}@example.org", "first_name": f"P{i}", "email_consent": "granted"}
        for i in range(n)
    ]


def _write_inputs(root: Path) -> None:
    profiles = [
        {
            "source_id": f"c{i}",
            "email": f"person{i}@example.org",
            "updated_at": "2011-11-01T00:00:00Z",
            "consent": {"email": "granted"},
        }
        for i in range(2 * HELD)
    ]
    orders = [
        {
            "source_event_id": f"o{i}",
            "type": "order_completed",
            "email": f"person{i}@example.org",
            "occurred_at": f"2011-{1 + i % 11:02d}-10T10:00:00Z",
            "revenue": 5 + i % 97,
        }
        for i in range(2 * HELD)
    ]
    data = root / "data"
    (data / "profiles" / "people.jsonl").write_text("".join(json.dumps(p) + "\n" for p in profiles))
    (data / "events" / "orders.jsonl").write_text("".join(json.dumps(o) + "\n" for o in orders))


def _run(cfg: Path, *, confirm: bool = False) -> RunSummary:
    env = {"HUBSPOT_TOKEN": HUBSPOT_TOKEN, "KLAVIYO_KEY": KLAVIYO_KEY}
    ws = Workspace(load_config(cfg, env=env))
    try:
        return run_pipeline(ws, confirm_creates=confirm)
    finally:
        ws.close()


def _state(base_url: str) -> dict[str, Any]:
    state: dict[str, Any] = httpx.get(f"{base_url}/__emulator__/state").json()
    return state


@pytest.fixture
def hubspot() -> HubSpotEmulator:
    with HubSpotEmulator(EmulatorOptions(limits="off", seed=3)) as emu:
        httpx.post(f"{emu.base_url}/__emulator__/seed", json={"people": _people(HELD)})
        yield emu


@pytest.fixture
def klaviyo() -> KlaviyoEmulator:
    with KlaviyoEmulator(EmulatorOptions(limits="off", seed=3)) as emu:
        httpx.post(f"{emu.base_url}/__emulator__/seed", json={"people": _people(HELD)})
        yield emu


def _hubspot_config(root: Path, base_url: str, mode: str, limit: int = 500) -> Path:
    return write_config(
        root,
        f"""
[sync]
max_first_creates = {limit}

[sources.crm]
plugin = "hubspot"
access_token = {{ env = "HUBSPOT_TOKEN" }}
base_url = "{base_url}"

[destinations.hubspot_out]
plugin = "hubspot"
access_token = {{ env = "HUBSPOT_TOKEN" }}
base_url = "{base_url}"
segments = ["rfm_high"]
mode = "{mode}"
""",
    )


def test_hubspot_update_only_never_creates_a_contact(tmp_path: Path, hubspot: Any) -> None:
    cfg = _hubspot_config(tmp_path, hubspot.base_url, "update_only")
    _write_inputs(tmp_path)
    summary = _run(cfg)
    assert summary.failures == [], summary.failures
    plan = summary.plans["hubspot_out"]
    assert plan.split()["create"] == 0
    assert plan.split()["update"] == HELD
    assert plan.skipped["not in hubspot_out (update_only)"] >= HELD
    contacts = _state(hubspot.base_url)["contacts"]
    assert len(contacts) == HELD, "no contact was created"
    assert all(c.get("rfm_tier") for c in contacts.values()), "every held contact updated"


def test_hubspot_plan_counts_creates_and_a_large_first_sync_waits_for_yes(
    tmp_path: Path, hubspot: Any
) -> None:
    cfg = _hubspot_config(tmp_path, hubspot.base_url, "upsert", limit=10)
    _write_inputs(tmp_path)
    held = _run(cfg)
    plan = held.plans["hubspot_out"]
    assert plan.split()["create"] == HELD, "the files' people HubSpot does not hold"
    assert plan.split()["update"] == HELD
    assert any("would create 30 new records" in f for f in held.failures), held.failures
    assert held.status == "partial"
    contacts = _state(hubspot.base_url)["contacts"]
    assert len(contacts) == HELD, "nothing was sent before confirmation"
    assert not any(c.get("rfm_tier") for c in contacts.values())

    confirmed = _run(cfg, confirm=True)
    assert confirmed.failures == [], confirmed.failures
    contacts = _state(hubspot.base_url)["contacts"]
    assert len(contacts) == 2 * HELD
    assert all(c.get("rfm_tier") for c in contacts.values())


def test_klaviyo_update_only_never_creates_a_profile(tmp_path: Path, klaviyo: Any) -> None:
    cfg = write_config(
        tmp_path,
        f"""
[sources.esp]
plugin = "klaviyo"
api_key = {{ env = "KLAVIYO_KEY" }}
base_url = "{klaviyo.base_url}"

[destinations.klaviyo_out]
plugin = "klaviyo"
api_key = {{ env = "KLAVIYO_KEY" }}
base_url = "{klaviyo.base_url}"
poll_interval = 0.05
segments = ["rfm_high"]
mode = "update_only"
""",
    )
    _write_inputs(tmp_path)
    summary = _run(cfg)
    assert summary.failures == [], summary.failures
    plan = summary.plans["klaviyo_out"]
    assert plan.split()["create"] == 0
    assert plan.split()["update"] == HELD
    profiles = _state(klaviyo.base_url)["profiles"]
    assert len(profiles) == HELD, "no profile was created"
    assert all(p["properties"].get("rfm_tier") for p in profiles.values())
