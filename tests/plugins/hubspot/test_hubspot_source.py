from __future__ import annotations

import json

from hubspot_helpers import recorded, settings_for

import cdp_hubspot.windowed as windowed
from cdp_hubspot import SPEC
from cdp_hubspot.emulator import HubSpotEmulator
from connector.plugin.spec import EmulatorOptions
from connector.schema.records import validate_event, validate_profile
from connector.testing import make_context


def _read(emu: HubSpotEmulator, tmp_path, stream_name: str, since: str | None = None, **kw):
    source = SPEC.source(settings_for(emu, **kw), make_context(tmp_path))  # type: ignore[misc]
    stream = next(s for s in source.streams() if s.name == stream_name)
    try:
        return list(source.read(stream, since))
    finally:
        source.close()


def test_contacts_map_to_canonical_profiles(emulator, tmp_path):
    emulator.seed({"profiles": 50, "deals": 0})
    records = _read(emulator, tmp_path, "contacts")
    assert len(records) == 50
    assert len({r["source_id"] for r in records}) == 50
    for raw in records:
        rec = validate_profile(raw, source="hubspot", region="US")
        assert rec.ids == {"hubspot_id": raw["source_id"]}
        assert rec.email
        assert rec.updated_at
        # opted out is an explicit denial; not opted out states nothing (no grant)
        opted_out = emulator.contacts.records[raw["source_id"]].props["hs_email_optout"] == "true"
        assert (rec.consent.get("email", (None,))[0] == "denied") == opted_out
        assert "lifecycle_stage" in rec.traits
    stamps = [r["updated_at"] for r in records]
    assert stamps == sorted(stamps), "ascending by lastmodifieddate"


def test_closed_won_deals_become_orders(emulator, tmp_path):
    emulator.seed({"profiles": 40, "deals": 60})
    events = _read(emulator, tmp_path, "deals")
    won = {rid for rid, d in emulator.deals.records.items() if d.props["dealstage"] == "closedwon"}
    assert {e["source_event_id"] for e in events} == won
    for raw in events:
        ev = validate_event(raw, source="hubspot", region="US")
        deal = emulator.deals.records[raw["source_event_id"]]
        assert ev.type == "order_completed"
        assert ev.revenue == float(deal.props["amount"])
        assert ev.ids["hubspot_id"] == min(deal.associations["contacts"], key=int)


def test_incremental_filter_is_sent_and_window_restarts_past_cap(tmp_path):
    with HubSpotEmulator(EmulatorOptions(limits="off")) as emu:
        emu.seed({"profiles": 10_450, "deals": 0})
        records = _read(emu, tmp_path, "contacts")
        assert len(records) == 10_450
        assert len({r["source_id"] for r in records}) == 10_450
        searches = [
            json.loads(e.body or "{}") for e in recorded(emu) if e.path.endswith("/contacts/search")
        ]
        assert all(e.status == 200 for e in recorded(emu))
        restarts = [b for b in searches if b["after"] == "0"]
        assert len(restarts) == 2, "one restart from the last value seen"
        flt = restarts[1]["filterGroups"][0]["filters"][0]
        assert flt["propertyName"] == "lastmodifieddate"
        assert flt["operator"] == "GTE"


def test_since_is_an_inclusive_lower_bound(emulator, tmp_path):
    emulator.seed({"profiles": 30, "deals": 0})
    everything = _read(emulator, tmp_path, "contacts")
    mark = everything[19]["updated_at"]
    later = _read(emulator, tmp_path, "contacts", since=mark)
    assert [r["source_id"] for r in later] == [r["source_id"] for r in everything[19:]]
    body = json.loads(recorded(emulator)[-1].body or "{}")
    assert body["filterGroups"][0]["filters"][0]["operator"] == "GTE"


def test_ties_beyond_a_window_are_scanned_by_id(emulator, tmp_path, monkeypatch):
    monkeypatch.setattr(windowed, "SEARCH_CAP", 40)
    emulator.seed({"profiles": 100, "deals": 0})
    # a time inside the seeded range (the seed's dates follow today)
    same = sorted(r.props["lastmodifieddate"] for r in emulator.contacts.records.values())[50]
    for rid in list(emulator.contacts.records)[:60]:
        emulator.contacts.records[rid].props["lastmodifieddate"] = same
    emulator.contacts._sorted_cache.clear()
    records = _read(emulator, tmp_path, "contacts", search_page_size=10)
    assert sorted(r["source_id"] for r in records) == sorted(emulator.contacts.records)
