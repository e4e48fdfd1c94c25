"""A person whose e-mail changes upstream is moved at the destination, not left behind.

Files in, the Klaviyo, HubSpot or Segment emulator out. Before, the changed person's traits
digest did not change, so nothing was planned: the profile and its lists kept the old address,
and mail for the person went to an address they had given up. Read at the destination (the
emulator's state), not from our calls.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.conftest import write_config
from tests.e2e.test_pipeline import _jsonl, _orders, _people
from tests.gauntlet.ads_segment import google_hash

from cdp_google_ads.emulator import GoogleAdsEmulator
from cdp_hubspot.emulator import HubSpotEmulator
from cdp_klaviyo.emulator import KlaviyoEmulator
from cdp_meta.emulator import MetaEmulator
from cdp_segment.emulator import SegmentEmulator
from connector.config import load_config
from connector.pipeline import Workspace, run_pipeline
from connector.pipeline.runner import RunSummary
from connector.plugin.spec import EmulatorOptions
from connector.sdk import sha256_hex
from connector.testing.platform import admin

OLD, NEW = "person3@example.org", "renamed@example.org"
_PLATFORMS: dict[type, str] = {
    KlaviyoEmulator: 'plugin = "klaviyo"\napi_key = { env = "KLAVIYO_KEY" }',
    HubSpotEmulator: 'plugin = "hubspot"\naccess_token = { env = "HUBSPOT_TOKEN" }',
    SegmentEmulator: 'plugin = "segment"\nwrite_key = { env = "SEGMENT_KEY" }',
}
_ENV = {
    "KLAVIYO_KEY": "pk_test_x", "HUBSPOT_TOKEN": "pat-na1-moved", "SEGMENT_KEY": "wk",
    "META_TOKEN": MetaEmulator.access_token, "GOOGLE_SECRET": GoogleAdsEmulator.client_secret,
    "GOOGLE_REFRESH": GoogleAdsEmulator.refresh_token,
}  # fmt: skip
_TIERS = ("rfm_high", "rfm_medium", "rfm_low")
Emulator = KlaviyoEmulator | HubSpotEmulator | SegmentEmulator


@pytest.fixture
def klaviyo() -> Iterator[KlaviyoEmulator]:
    with KlaviyoEmulator(EmulatorOptions(seed_profiles=0, limits="off", seed=7)) as emu:
        yield emu


def _table(header: str, emu: Emulator, *, segments: tuple[str, ...] | None = None) -> str:
    """One ``[sources.x]`` or ``[destinations.x]`` table for ``emu``'s platform."""
    lines = [f"[{header}]", _PLATFORMS[type(emu)], f'base_url = "{emu.base_url}"']
    if segments is not None:  # a destination
        lines.append(f"segments = {json.dumps(list(segments))}")
        if isinstance(emu, KlaviyoEmulator):
            lines.append("poll_interval = 0.05")
    return "\n".join(lines) + "\n"


def _setup(
    root: Path, emu: Emulator, segments: tuple[str, ...] = _TIERS
) -> tuple[Path, list[dict[str, object]]]:
    """Files in (30 people with orders), ``emu``'s platform out."""
    cfg = write_config(root, "\n" + _table("destinations.out", emu, segments=segments))
    people = _people(30)
    _jsonl(root / "data/profiles/people.jsonl", people)
    _jsonl(root / "data/events/orders.jsonl", _orders(30))
    return cfg, people


def _run(cfg: Path) -> RunSummary:
    ws = Workspace(load_config(cfg, env=_ENV))
    try:
        summary = run_pipeline(ws)
    finally:
        ws.close()
    assert summary.status == "completed", summary.failures
    return summary


def _state(emu: Emulator) -> dict[str, Any]:
    found: dict[str, Any] = admin(emu, "GET", "state")
    return found


def _by_email(records: dict[str, Any], email: str) -> list[tuple[str, dict[str, Any]]]:
    """The (id, record) pairs of Klaviyo's ``profiles`` or HubSpot's ``contacts`` at ``email``."""
    return [(rid, r) for rid, r in records.items() if r.get("email") == email]


def _lists_of(lists: Iterable[dict[str, Any]], rid: str) -> list[str]:
    return sorted(lst["name"] for lst in lists if rid in lst["members"])


def _rename(root: Path, people: list[dict[str, object]]) -> None:
    people[3] = {**people[3], "email": NEW, "updated_at": "2011-12-01T00:00:00Z"}
    _jsonl(root / "data/profiles/people.jsonl", people)


def test_a_changed_address_moves_the_profile_we_created(
    tmp_path: Path, klaviyo: KlaviyoEmulator
) -> None:
    cfg, people = _setup(tmp_path, klaviyo)
    _run(cfg)
    before = _state(klaviyo)
    [(kid, profile)] = _by_email(before["profiles"], OLD)
    lists = _lists_of(before["lists"].values(), kid)
    assert lists
    assert profile["properties"]
    _rename(tmp_path, people)

    changed = _run(cfg)

    after = _state(klaviyo)
    assert changed.counts["rejected"] == 0
    assert _by_email(after["profiles"], OLD) == []  # nobody is mailed at an address given up
    [(moved, profile_now)] = _by_email(after["profiles"], NEW)
    assert moved == kid  # the same profile, so its history and lists stay with the person
    assert _lists_of(after["lists"].values(), moved) == lists
    assert profile_now["properties"] == profile["properties"]
    assert len(after["profiles"]) == len(before["profiles"])
    others = {p: v["email"] for p, v in after["profiles"].items() if p != kid}
    assert others == {p: v["email"] for p, v in before["profiles"].items() if p != kid}
    assert _run(cfg).counts["planned"] == 0  # settled: the move is not sent again


def test_an_address_another_profile_holds_keeps_ours_where_it_is(
    tmp_path: Path, klaviyo: KlaviyoEmulator
) -> None:
    """Klaviyo keeps one profile per address: moving ours onto one a marketer's own profile
    holds is refused. The traits still land on our profile, and theirs is left as it is."""
    cfg, people = _setup(tmp_path, klaviyo)
    _run(cfg)
    [(kid, _)] = _by_email(_state(klaviyo)["profiles"], OLD)
    assert admin(klaviyo, "POST", "seed", {"people": [{"email": NEW}]})["profiles"] == 1
    [(theirs, their_profile)] = _by_email(_state(klaviyo)["profiles"], NEW)
    _rename(tmp_path, people)
    people.append({**people[0], "source_id": "c99", "email": "late@example.org"})
    _jsonl(tmp_path / "data/profiles/people.jsonl", people)

    changed = _run(cfg)

    after = _state(klaviyo)["profiles"]
    assert changed.counts["rejected"] == 0
    assert after[kid]["email"] == OLD  # ours stays where it was
    assert after[theirs] == their_profile  # theirs is untouched
    assert _by_email(after, "late@example.org")  # the rest of the run landed


def test_a_changed_address_moves_the_hubspot_contact_we_created(tmp_path: Path) -> None:
    with HubSpotEmulator(EmulatorOptions(seed_profiles=0, limits="off", seed=7)) as hub:
        cfg, people = _setup(tmp_path, hub)
        _run(cfg)
        before = _state(hub)
        [(rid, _)] = _by_email(before["contacts"], OLD)
        lists = _lists_of(before["lists"], rid)
        assert lists
        _rename(tmp_path, people)

        changed = _run(cfg)

        after = _state(hub)
        assert changed.counts["rejected"] == 0
        assert _by_email(after["contacts"], OLD) == []
        assert after["contacts"][rid]["email"] == NEW  # the same contact, moved
        assert _lists_of(after["lists"], rid) == lists
        assert len(after["contacts"]) == len(before["contacts"])  # no contact was made
        assert _run(cfg).counts["planned"] == 0


def test_an_address_another_contact_holds_keeps_our_hubspot_contact(tmp_path: Path) -> None:
    with HubSpotEmulator(EmulatorOptions(seed_profiles=0, limits="off", seed=7)) as hub:
        cfg, people = _setup(tmp_path, hub)
        _run(cfg)
        [(rid, _)] = _by_email(_state(hub)["contacts"], OLD)
        admin(hub, "POST", "seed", {"people": [{"email": NEW}]})
        [(theirs, their_contact)] = _by_email(_state(hub)["contacts"], NEW)
        _rename(tmp_path, people)

        changed = _run(cfg)

        after = _state(hub)["contacts"]
        assert changed.counts["rejected"] == 0
        assert after[rid]["email"] == OLD  # ours stays where it was
        assert after[theirs] == their_contact  # theirs is untouched


def test_a_changed_address_reaches_segment(tmp_path: Path) -> None:
    """A Segment user we identify by our profile id is identified again, with the new address:
    Segment's destinations key on that trait."""
    with SegmentEmulator() as seg:
        cfg, people = _setup(tmp_path, seg, segments=())
        _run(cfg)
        sent = len(_state(seg)["messages"])
        _rename(tmp_path, people)

        _run(cfg)

        later = _state(seg)["messages"][sent:]
        assert [m["traits"].get("email") for m in later if m["type"] == "identify"] == [NEW]


def test_an_address_changed_at_hubspot_moves_our_klaviyo_copy(tmp_path: Path) -> None:
    """Both platforms are sources too. The Klaviyo profile our import made for a HubSpot
    contact is read back (an echo) and holds the old address until we move it: it must not
    split the person from their contact, nor (once it took the new one) from their orders."""
    people = [{"email": f"person{i}@example.org", "email_consent": "granted"} for i in range(20)]
    options = EmulatorOptions(limits="off", seed=4, seed_profiles=0)
    with HubSpotEmulator(options) as hub, KlaviyoEmulator(options) as kla:
        admin(hub, "POST", "seed", {"people": people})
        tables = [
            _table("sources.crm", hub),
            _table("sources.esp", kla),
            _table("destinations.out", kla, segments=_TIERS),
        ]
        cfg = write_config(tmp_path, "\n" + "\n".join(tables))
        orders = [
            {"source_event_id": f"o{i}", "type": "order_completed", "email": p["email"],
             "occurred_at": f"2011-{1 + i % 11:02d}-10T10:00:00Z", "revenue": 5 + i}
            for i, p in enumerate(people)
        ]  # fmt: skip
        _jsonl(tmp_path / "data/events/orders.jsonl", orders)
        _run(cfg)
        [(kid, _)] = _by_email(_state(kla)["profiles"], OLD)
        [(rid, _)] = _by_email(_state(hub)["contacts"], OLD)
        edited = httpx.post(
            f"{hub.base_url}/crm/v3/objects/contacts/batch/update",
            json={"inputs": [{"id": rid, "properties": {"email": NEW}}]},
            headers={"Authorization": f"Bearer {_ENV['HUBSPOT_TOKEN']}"},
        )
        assert edited.is_success, edited.text

        moved = _run(cfg)
        echoed = _run(cfg)  # reads the moved profile back

        after = _state(kla)["profiles"]
        assert [pid for pid, _ in _by_email(after, NEW)] == [kid]
        assert _by_email(after, OLD) == []
        assert len(after) == len(people)
        assert moved.counts["profiles"] == echoed.counts["profiles"] == len(people)
        assert echoed.counts["planned"] == 0


def _ads_tables(meta: MetaEmulator, google: GoogleAdsEmulator) -> str:
    """Meta and Google destinations for every tier (the files state no ads consent: everyone
    who has not said no is sent)."""
    lists = ", ".join(f'{t} = "{900 + i}"' for i, t in enumerate(_TIERS))
    return f"""
[destinations.meta]
plugin = "meta"
access_token = {{ env = "META_TOKEN" }}
ad_account_id = "act_1001"
base_url = "{meta.base_url}"
segments = {json.dumps(list(_TIERS))}
consent_policy = "not_denied"

[destinations.google]
plugin = "google_ads"
operating_account_id = "1234567890"
user_lists = {{ {lists} }}
base_url = "{google.base_url}"
token_url = "{google.base_url}/token"
client_id = "{GoogleAdsEmulator.client_id}"
client_secret = {{ env = "GOOGLE_SECRET" }}
refresh_token = {{ env = "GOOGLE_REFRESH" }}
terms_of_service_accepted = true
segments = {json.dumps(list(_TIERS))}
consent_policy = "not_denied"
status_poll_interval = 0.05
"""


def _audiences(meta: MetaEmulator, google: GoogleAdsEmulator) -> dict[str, list[str]]:
    """Every Meta audience and Google list, by name or id, with its members' e-mail hashes."""
    found = {
        f"meta:{a['name']}": sorted(m.get("EMAIL", "") for m in a["members"])
        for a in _state(meta)["audiences"].values()
    }
    for list_id, user_list in _state(google)["user_lists"].items():
        found[f"google:{list_id}"] = sorted(
            h for m in user_list["members"] for h in m.get("emailAddress", [])
        )
    return found


def _holding(audiences: dict[str, list[str]], email: str) -> list[str]:
    """The audiences holding ``email``, hashed as each platform normalises it."""
    hashed = {"meta": sha256_hex(email), "google": google_hash(email)}
    return sorted(n for n, members in audiences.items() if hashed[n.split(":")[0]] in members)


def test_a_changed_address_moves_the_member_of_hashed_audiences(tmp_path: Path) -> None:
    """Meta and Google hold a member under a hashed address. Before, a changed address planned
    nothing: ads kept targeting the address the person gave up, never the new one."""
    options = EmulatorOptions(limits="off")
    with MetaEmulator(options) as meta, GoogleAdsEmulator(options) as google:
        cfg = write_config(tmp_path, _ads_tables(meta, google))
        people = _people(30)
        _jsonl(tmp_path / "data/profiles/people.jsonl", people)
        _jsonl(tmp_path / "data/events/orders.jsonl", _orders(30))
        _run(cfg)
        before = _audiences(meta, google)
        held = _holding(before, OLD)
        assert [name.split(":")[0] for name in held] == ["google", "meta"]
        _rename(tmp_path, people)

        changed = _run(cfg)

        after = _audiences(meta, google)
        assert changed.counts["rejected"] == 0
        assert _holding(after, OLD) == []  # no ad reaches an address given up
        assert _holding(after, NEW) == held
        assert {k: len(v) for k, v in after.items()} == {k: len(v) for k, v in before.items()}
        assert _run(cfg).counts["planned"] == 0  # settled: the move is not sent again
