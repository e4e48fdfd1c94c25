"""Two HubSpot contacts of one person: on each of our HubSpot lists once, and a merge HubSpot
made itself never takes the merged contact off a list.

HubSpot in and out, read at the HubSpot emulator. Our graph merges two contacts HubSpot keeps
apart (one phone number, two addresses): before, the merged-away profile's memberships were
handed to the survivor, so both contacts stayed on "High value" and HubSpot mailed the person
at both addresses. A merge made at HubSpot (its merge route) leaves one contact that every
merged-away id reads as: taking the merged-away id off a list, or clearing its traits, would
hit that one contact, so it must keep its lists and traits.
"""

from __future__ import annotations

from pathlib import Path

import httpx
from tests.conftest import write_config
from tests.e2e.test_address_change import _ENV, _TIERS, _by_email, _lists_of, _run, _state, _table
from tests.e2e.test_pipeline import _jsonl

from cdp_hubspot.emulator import HubSpotEmulator
from connector.plugin.spec import EmulatorOptions
from connector.testing.platform import admin

# one and three orders in turn: the people with three are the high tier, A and B among them
_PEOPLE = [{"email": f"person{i}@example.org", "email_consent": "granted"} for i in range(20)]
A, B = "person19@example.org", "person17@example.org"
_HIGH = "CDP: High value"


def _setup(tmp_path: Path, hub: HubSpotEmulator) -> tuple[Path, str, str, set[str]]:
    """Two runs' worth of set-up; the contacts of A and B and the properties HubSpot's seed
    gave every contact (what is not among them, our runs wrote)."""
    admin(hub, "POST", "seed", {"people": _PEOPLE})
    seeded = {k for c in _state(hub)["contacts"].values() for k in c} | {"hs_merged_object_ids"}
    out = _table("destinations.out", hub, segments=_TIERS) + 'consent_policy = "not_denied"\n'
    cfg = write_config(tmp_path, "\n" + _table("sources.crm", hub) + "\n" + out)
    orders = [
        {"source_event_id": f"o{i}-{k}", "type": "order_completed", "email": p["email"],
         "occurred_at": f"2011-{1 + (i + k) % 11:02d}-10T10:00:00Z", "revenue": 5 + i}
        for i, p in enumerate(_PEOPLE) for k in range(1 + 2 * (i % 2))
    ]  # fmt: skip
    _jsonl(tmp_path / "data/events/orders.jsonl", orders)
    _run(cfg)
    contacts = _state(hub)["contacts"]
    [(ra, a)], [(rb, b)] = _by_email(contacts, A), _by_email(contacts, B)
    lists = _state(hub)["lists"]
    assert _lists_of(lists, ra) == _lists_of(lists, rb) == [_HIGH]
    assert _ours(a, seeded)
    assert _ours(b, seeded)
    return cfg, ra, rb, seeded


def _hubspot(hub: HubSpotEmulator, method: str, path: str, body: object) -> None:
    answer = httpx.request(
        method, f"{hub.base_url}{path}", json=body,
        headers={"Authorization": f"Bearer {_ENV['HUBSPOT_TOKEN']}"},
    )  # fmt: skip
    assert answer.is_success, answer.text


def _ours(contact: dict[str, object], seeded: set[str]) -> dict[str, object]:
    return {k: v for k, v in contact.items() if k not in seeded and v not in ("", None)}


def test_two_contacts_our_graph_merged_are_on_each_hubspot_list_once(tmp_path: Path) -> None:
    options = EmulatorOptions(limits="off", seed=4, seed_profiles=0)
    with HubSpotEmulator(options) as hub:
        cfg, ra, rb, seeded = _setup(tmp_path, hub)
        for rid in (ra, rb):  # one phone on both: one person to us, two contacts to HubSpot
            _hubspot(hub, "PATCH", f"/crm/v3/objects/contacts/{rid}",
                     {"properties": {"phone": "+14155550199"}})  # fmt: skip

        _run(cfg)

        after = _state(hub)
        held = {rid: _lists_of(after["lists"], rid) for rid in (ra, rb)}
        assert sorted(held.values()) == [[], [_HIGH]]  # one contact, on the list once
        [apart] = [rid for rid, names in held.items() if not names]
        [kept] = [rid for rid in (ra, rb) if rid != apart]
        assert _ours(after["contacts"][apart], seeded) == {}  # its traits were taken back
        assert _ours(after["contacts"][kept], seeded)  # the survivor's contact keeps them
        assert {ra, rb} <= set(after["contacts"])  # nothing was deleted
        assert _run(cfg).counts["planned"] == 0


def test_a_merge_made_at_hubspot_keeps_the_merged_contact_on_its_lists(tmp_path: Path) -> None:
    options = EmulatorOptions(limits="off", seed=4, seed_profiles=0)
    with HubSpotEmulator(options) as hub:
        cfg, ra, rb, seeded = _setup(tmp_path, hub)
        _hubspot(hub, "POST", "/crm/v3/objects/contacts/merge",
                 {"primaryObjectId": rb, "objectIdToMerge": ra})  # fmt: skip
        [(merged, _)] = [
            (rid, c) for rid, c in _state(hub)["contacts"].items() if c.get("email") in (A, B)
        ]

        _run(cfg)

        after = _state(hub)
        assert _lists_of(after["lists"], merged) == [_HIGH]
        # its traits were not cleared through an old id
        assert _ours(after["contacts"][merged], seeded)
        assert _run(cfg).counts["planned"] == 0
