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
from tests.e2e.test_address_change import _ENV, _by_email, _lists_of, _run, _state
from tests.e2e.test_merge_lists import A, B, people_with_orders

from cdp_hubspot.emulator import HubSpotEmulator
from connector.plugin.spec import EmulatorOptions

_HIGH = "CDP: High value"


def _setup(tmp_path: Path, hub: HubSpotEmulator) -> tuple[Path, str, str, set[str]]:
    """The first run; the contacts of A and B and the properties HubSpot's seed gave every
    contact (what is not among them, our runs wrote)."""
    cfg = people_with_orders(tmp_path, hub, hub)  # A and B are in the high tier
    seeded = {k for c in _state(hub)["contacts"].values() for k in c} | {"hs_merged_object_ids"}
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
