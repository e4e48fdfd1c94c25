"""The whole run against emulators: pull from Klaviyo, push traits and lists back to Klaviyo and
audiences to Meta, all through the config file, the runner and the official SDKs."""

from __future__ import annotations

import hashlib
from pathlib import Path

import httpx
import pytest
from tests.conftest import write_config

from cdp_klaviyo.emulator import KlaviyoEmulator
from cdp_meta.emulator import MetaEmulator
from connector.config import load_config
from connector.pipeline import Workspace, run_pipeline
from connector.plugin.spec import EmulatorOptions
from connector.store import DataStore


@pytest.fixture
def klaviyo() -> KlaviyoEmulator:
    with KlaviyoEmulator(EmulatorOptions(seed_profiles=200, limits="off", seed=7)) as emu:
        yield emu


@pytest.fixture
def meta() -> MetaEmulator:
    with MetaEmulator(EmulatorOptions(limits="off")) as emu:
        yield emu


def _config(root: Path, klaviyo: KlaviyoEmulator, meta: MetaEmulator) -> Path:
    return write_config(
        root,
        f"""
[sources.klaviyo]
plugin = "klaviyo"
api_key = {{ env = "KLAVIYO_KEY" }}
base_url = "{klaviyo.base_url}"
lookback = "10m"

[destinations.klaviyo_out]
plugin = "klaviyo"
api_key = {{ env = "KLAVIYO_KEY" }}
base_url = "{klaviyo.base_url}"
poll_interval = 0.05
segments = ["rfm_high", "rfm_medium"]

[destinations.meta]
plugin = "meta"
access_token = {{ env = "META_TOKEN" }}
ad_account_id = "act_1001"
base_url = "{meta.base_url}"
segments = ["rfm_high"]
# Klaviyo states no ads consent: send everyone who has not said no (the strict default sends none)
consent_policy = "not_denied"
""",
        as_of="2030-01-01",
    )


def _run(cfg_path: Path) -> object:
    env = {"KLAVIYO_KEY": "pk_test_e2e", "META_TOKEN": MetaEmulator.access_token}
    ws = Workspace(load_config(cfg_path, env=env))
    try:
        return run_pipeline(ws)
    finally:
        ws.close()


def _email_consented_klaviyo_ids(root: Path) -> set[str]:
    store = DataStore(root / ".connector" / "data.duckdb")
    try:
        rows = store.con.execute(
            """SELECT i.value FROM profiles p JOIN identities i USING (profile_id)
               WHERE i.kind = 'klaviyo_id' AND p.consent_email = 'granted'"""
        ).fetchall()
    finally:
        store.close()
    return {r[0] for r in rows}


def test_pull_model_push_against_emulators(
    tmp_path: Path, klaviyo: KlaviyoEmulator, meta: MetaEmulator
) -> None:
    cfg = _config(tmp_path, klaviyo, meta)
    first = _run(cfg)
    assert first.failures == [], first.failures
    assert first.counts["pulled"] > 200
    assert first.counts["rejected"] == 0
    state = httpx.get(f"{klaviyo.base_url}/__emulator__/state").json()
    profiles = state["profiles"]
    with_tier = {
        pid: tier for pid, p in profiles.items() if (tier := p["properties"].get("rfm_tier"))
    }
    assert len(with_tier) == len(profiles), "every pulled profile got its traits back"
    lists = {lst["name"]: set(lst["members"]) for lst in state["lists"].values()}
    high = {pid for pid, tier in with_tier.items() if tier == "high"}
    medium = {pid for pid, tier in with_tier.items() if tier == "medium"}
    subscribed = _email_consented_klaviyo_ids(tmp_path)
    assert lists["CDP: High value"] == high & subscribed, "email lists: subscribed members only"
    assert lists["CDP: Medium value"] == medium & subscribed
    assert high & subscribed, "the scenario has members to activate"

    audiences = httpx.get(f"{meta.base_url}/__emulator__/state").json()["audiences"]
    assert [a["name"] for a in audiences.values()] == ["High value"]
    members = {m["EMAIL"] for a in audiences.values() for m in a["members"] if "EMAIL" in m}
    hashed_high = {
        hashlib.sha256(profiles[pid]["email"].strip().lower().encode()).hexdigest()
        for pid in high
        if profiles[pid].get("email")
    }
    assert members == hashed_high, "the audience holds exactly the high tier, hashed"
    raw = httpx.get(f"{meta.base_url}/__emulator__/requests", params={"body": 1}).json()
    sent = [(r.get("body") or "") + str(r["query"]) for r in raw["requests"]]
    emails = [p["email"] for p in profiles.values() if p.get("email")]
    assert not any(e in text for text in sent for e in emails), "only hashes leave"

    second = _run(cfg)
    assert second.counts["planned"] == 0
    assert second.status == "completed"


def test_full_replace_through_the_runner(
    tmp_path: Path, klaviyo: KlaviyoEmulator, meta: MetaEmulator
) -> None:
    """``full_replace = true`` in the config: the runner sends the audience through one
    ``/usersreplace`` session instead of ``/users`` diffs; the audience holds the high tier."""
    cfg = _config(tmp_path, klaviyo, meta)
    text = cfg.read_text().replace(
        'segments = ["rfm_high"]\n', 'segments = ["rfm_high"]\nfull_replace = true\n'
    )
    cfg.write_text(text)
    first = _run(cfg)
    assert first.failures == [], first.failures
    assert first.counts["rejected"] == 0
    profiles = httpx.get(f"{klaviyo.base_url}/__emulator__/state").json()["profiles"]
    hashed_high = {
        hashlib.sha256(p["email"].strip().lower().encode()).hexdigest()
        for p in profiles.values()
        if p["properties"].get("rfm_tier") == "high" and p.get("email")
    }
    state = httpx.get(f"{meta.base_url}/__emulator__/state").json()
    (audience,) = state["audiences"].values()
    assert {m["EMAIL"] for m in audience["members"] if "EMAIL" in m} == hashed_high
    assert hashed_high
    assert state["open_replace_sessions"] == 0
    raw = httpx.get(f"{meta.base_url}/__emulator__/requests").json()["requests"]
    writes = [r["path"].rsplit("/", 1)[-1] for r in raw if "/users" in r["path"]]
    assert writes
    assert set(writes) == {"usersreplace"}
    assert _run(cfg).counts["planned"] == 0  # nothing changed: no session at all
