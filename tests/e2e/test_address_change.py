"""A person whose e-mail changes upstream is moved at the destination, not left behind.

Files in, the Klaviyo or HubSpot emulator out. Before, the changed person's traits digest did
not change, so nothing was planned: the profile and its lists kept the old address, and mail
for the person went to an address they had given up. Read at the destination (the emulator's
state), not from our calls.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.conftest import write_config
from tests.e2e.test_pipeline import _jsonl, _orders, _people

from cdp_hubspot.emulator import HubSpotEmulator
from cdp_klaviyo.emulator import KlaviyoEmulator
from cdp_segment.emulator import SegmentEmulator
from connector.config import load_config
from connector.pipeline import Workspace, run_pipeline
from connector.pipeline.runner import RunSummary
from connector.plugin.spec import EmulatorOptions

OLD, NEW = "person3@example.org", "renamed@example.org"


@pytest.fixture
def klaviyo() -> Iterator[KlaviyoEmulator]:
    with KlaviyoEmulator(EmulatorOptions(seed_profiles=0, limits="off", seed=7)) as emu:
        yield emu


def _setup(
    root: Path, emu: KlaviyoEmulator | HubSpotEmulator
) -> tuple[Path, list[dict[str, object]]]:
    destination = (
        """plugin = "klaviyo"
api_key = { env = "KLAVIYO_KEY" }
poll_interval = 0.05"""
        if isinstance(emu, KlaviyoEmulator)
        else """plugin = "hubspot"
access_token = { env = "HUBSPOT_TOKEN" }"""
    )
    cfg = write_config(
        root,
        f"""
[destinations.out]
{destination}
base_url = "{emu.base_url}"
segments = ["rfm_high", "rfm_medium", "rfm_low"]
""",
    )
    people = _people(30)
    _jsonl(root / "data/profiles/people.jsonl", people)
    _jsonl(root / "data/events/orders.jsonl", _orders(30))
    return cfg, people


def _run(cfg: Path) -> RunSummary:
    env = {"KLAVIYO_KEY": "pk_test_x", "HUBSPOT_TOKEN": "pat-na1-moved", "SEGMENT_KEY": "wk"}
    ws = Workspace(load_config(cfg, env=env))
    try:
        summary = run_pipeline(ws)
    finally:
        ws.close()
    assert summary.status == "completed", summary.failures
    return summary


def _state(emu: KlaviyoEmulator | HubSpotEmulator | SegmentEmulator) -> dict[str, Any]:
    found: dict[str, Any] = httpx.get(f"{emu.base_url}/__emulator__/state").json()
    return found


def _by_email(state: dict[str, Any], email: str) -> list[tuple[str, dict[str, Any]]]:
    return [(pid, p) for pid, p in state["profiles"].items() if p.get("email") == email]


def _lists_of(state: dict[str, Any], pid: str) -> list[str]:
    return sorted(lst["name"] for lst in state["lists"].values() if pid in lst["members"])


def _rename(root: Path, people: list[dict[str, object]]) -> None:
    people[3] = {**people[3], "email": NEW, "updated_at": "2011-12-01T00:00:00Z"}
    _jsonl(root / "data/profiles/people.jsonl", people)


def test_a_changed_address_moves_the_profile_we_created(
    tmp_path: Path, klaviyo: KlaviyoEmulator
) -> None:
    cfg, people = _setup(tmp_path, klaviyo)
    _run(cfg)
    before = _state(klaviyo)
    [(kid, profile)] = _by_email(before, OLD)
    lists = _lists_of(before, kid)
    assert lists
    assert profile["properties"]
    _rename(tmp_path, people)

    changed = _run(cfg)

    after = _state(klaviyo)
    assert changed.counts["rejected"] == 0
    assert _by_email(after, OLD) == []  # nobody is mailed at the address they gave up
    [(moved, profile_now)] = _by_email(after, NEW)
    assert moved == kid  # the same profile, so its history and lists stay with the person
    assert _lists_of(after, moved) == lists
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
    [(kid, _)] = _by_email(_state(klaviyo), OLD)
    seeded = httpx.post(
        f"{klaviyo.base_url}/__emulator__/seed", json={"people": [{"email": NEW}]}
    ).json()
    assert seeded["profiles"] == 1
    [(theirs, their_profile)] = _by_email(_state(klaviyo), NEW)
    _rename(tmp_path, people)
    people.append({**people[0], "source_id": "c99", "email": "late@example.org"})
    _jsonl(tmp_path / "data/profiles/people.jsonl", people)

    changed = _run(cfg)

    after = _state(klaviyo)
    assert changed.counts["rejected"] == 0
    assert after["profiles"][kid]["email"] == OLD  # ours stays where it was
    assert after["profiles"][theirs] == their_profile  # theirs is untouched
    assert _by_email(after, "late@example.org")  # the rest of the run landed


def test_a_changed_address_moves_the_hubspot_contact_we_created(tmp_path: Path) -> None:
    with HubSpotEmulator(EmulatorOptions(seed_profiles=0, limits="off", seed=7)) as hub:
        cfg, people = _setup(tmp_path, hub)
        _run(cfg)
        before = _state(hub)
        [rid] = [r for r, c in before["contacts"].items() if c.get("email") == OLD]
        lists = sorted(lst["name"] for lst in before["lists"] if rid in lst["members"])
        assert lists
        _rename(tmp_path, people)
        other = httpx.post(
            f"{hub.base_url}/__emulator__/seed", json={"people": [{"email": "x@y.org"}]}
        )
        assert other.is_success

        changed = _run(cfg)

        after = _state(hub)
        assert changed.counts["rejected"] == 0
        emails = sorted(c.get("email") for c in after["contacts"].values())
        assert OLD not in emails
        assert after["contacts"][rid]["email"] == NEW  # the same contact, moved
        assert sorted(lst["name"] for lst in after["lists"] if rid in lst["members"]) == lists
        assert len(emails) == len(before["contacts"]) + 1  # only the seeded one is new
        assert _run(cfg).counts["planned"] == 0


def test_an_address_another_contact_holds_keeps_our_hubspot_contact(tmp_path: Path) -> None:
    with HubSpotEmulator(EmulatorOptions(seed_profiles=0, limits="off", seed=7)) as hub:
        cfg, people = _setup(tmp_path, hub)
        _run(cfg)
        [rid] = [r for r, c in _state(hub)["contacts"].items() if c.get("email") == OLD]
        seeded = httpx.post(f"{hub.base_url}/__emulator__/seed", json={"people": [{"email": NEW}]})
        assert seeded.is_success
        [(theirs, their_contact)] = [
            (r, c) for r, c in _state(hub)["contacts"].items() if c.get("email") == NEW
        ]
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
        cfg = write_config(
            tmp_path,
            f"""
[destinations.out]
plugin = "segment"
write_key = {{ env = "SEGMENT_KEY" }}
base_url = "{seg.base_url}"
segments = []
""",
        )
        people = _people(30)
        _jsonl(tmp_path / "data/profiles/people.jsonl", people)
        _jsonl(tmp_path / "data/events/orders.jsonl", _orders(30))
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
        httpx.post(f"{hub.base_url}/__emulator__/seed", json={"people": people})
        cfg = write_config(
            tmp_path,
            f"""
[sources.crm]
plugin = "hubspot"
access_token = {{ env = "HUBSPOT_TOKEN" }}
base_url = "{hub.base_url}"

[sources.esp]
plugin = "klaviyo"
api_key = {{ env = "KLAVIYO_KEY" }}
base_url = "{kla.base_url}"

[destinations.out]
plugin = "klaviyo"
api_key = {{ env = "KLAVIYO_KEY" }}
base_url = "{kla.base_url}"
poll_interval = 0.05
""",
        )
        orders = [
            {"source_event_id": f"o{i}", "type": "order_completed", "email": p["email"],
             "occurred_at": f"2011-{1 + i % 11:02d}-10T10:00:00Z", "revenue": 5 + i}
            for i, p in enumerate(people)
        ]  # fmt: skip
        _jsonl(tmp_path / "data/events/orders.jsonl", orders)
        _run(cfg)
        [(kid, _)] = _by_email(_state(kla), OLD)
        contacts = _state(hub)["contacts"]
        rid = next(r for r, c in contacts.items() if c.get("email") == OLD)
        edited = httpx.post(
            f"{hub.base_url}/crm/v3/objects/contacts/batch/update",
            json={"inputs": [{"id": rid, "properties": {"email": NEW}}]},
            headers={"Authorization": "Bearer pat-na1-moved"},
        )
        assert edited.is_success, edited.text

        moved = _run(cfg)
        echoed = _run(cfg)  # reads the moved profile back

        after = _state(kla)
        assert [pid for pid, _ in _by_email(after, NEW)] == [kid]
        assert _by_email(after, OLD) == []
        assert len(after["profiles"]) == len(people)
        assert moved.counts["profiles"] == echoed.counts["profiles"] == len(people)
        assert echoed.counts["planned"] == 0
