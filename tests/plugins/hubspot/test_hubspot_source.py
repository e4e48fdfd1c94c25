from __future__ import annotations

import json
import math

from hubspot_helpers import recorded, settings_for

from cdp_hubspot import SPEC
from cdp_hubspot.emulator import HubSpotEmulator
from cdp_hubspot.emulator.lifecycle import archive
from cdp_hubspot.emulator.values import now_ms
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
    ids = [int(r["source_id"]) for r in records]
    assert ids == sorted(ids), "keyset paging: ascending by hs_object_id"


def test_closed_won_deals_of_every_pipeline_become_orders(emulator, tmp_path):
    emulator.seed({"profiles": 40, "deals": 80})
    events = _read(emulator, tmp_path, "deals")
    deals = emulator.deals.records
    won = {rid for rid, d in deals.items() if d.props["hs_is_closed_won"] == "true"}
    second = {rid for rid in won if deals[rid].props["pipeline"] != "default"}
    assert second, "the seed has closed-won deals in the second pipeline"
    assert all(deals[rid].props["dealstage"] != "closedwon" for rid in second)
    assert {e["source_event_id"] for e in events} == won
    for raw in events:
        ev = validate_event(raw, source="hubspot", region="US")
        deal = deals[raw["source_event_id"]]
        assert ev.type == "order_completed"
        assert ev.properties["order_id"] == raw["source_event_id"]
        assert ev.revenue == float(deal.props["amount"])
        assert ev.ids["hubspot_id"] == min(deal.associations["contacts"], key=int)
    paths = [e.path for e in recorded(emulator)]
    assert "/crm/v3/pipelines/deals" in paths, "won stages are discovered at run time"


def test_keyset_paging_in_a_frozen_window_never_reaches_the_cap(tmp_path):
    with HubSpotEmulator(EmulatorOptions(limits="off")) as emu:
        emu.seed({"profiles": 10_450, "deals": 0})
        records = _read(emu, tmp_path, "contacts", since="2020-01-01T00:00:00Z")
        assert len(records) == 10_450
        assert len({r["source_id"] for r in records}) == 10_450
        entries = recorded(emu)
        searches = [json.loads(e.body or "{}") for e in entries if e.path.endswith("/search")]
        assert all(e.status == 200 for e in entries)
        assert len(searches) == math.ceil(10_450 / 200)
        last = 0
        for body in searches:
            assert "after" not in body, "every page is a fresh keyset query"
            upper, lower, key = body["filterGroups"][0]["filters"]
            assert (upper["propertyName"], upper["operator"]) == ("lastmodifieddate", "LTE")
            assert (lower["operator"], lower["value"]) == ("GTE", "1577836800000")
            assert (key["propertyName"], key["operator"]) == ("hs_object_id", "GT")
            assert int(key["value"]) >= last
            last = int(key["value"])
            assert body["sorts"] == [{"propertyName": "hs_object_id", "direction": "ASCENDING"}]
        assert len({b["filterGroups"][0]["filters"][0]["value"] for b in searches}) == 1, "frozen"


def test_since_is_an_inclusive_lower_bound(emulator, tmp_path):
    emulator.seed({"profiles": 30, "deals": 0})
    everything = _read(emulator, tmp_path, "contacts")
    mark = sorted(r["updated_at"] for r in everything)[19]
    later = _read(emulator, tmp_path, "contacts", since=mark)
    assert {r["source_id"] for r in later} == {
        r["source_id"] for r in everything if r["updated_at"] >= mark
    }
    searches = [r for r in recorded(emulator) if r.path.endswith("/search")]
    body = json.loads(searches[-1].body or "{}")
    assert body["filterGroups"][0]["filters"][1]["operator"] == "GTE"


def test_an_empty_page_that_carries_next_is_followed(emulator, tmp_path):
    emulator.seed({"profiles": 600, "deals": 0})
    emulator.index_delay = 30.0  # archived rows stay in the search index: pages come back empty
    first = sorted(emulator.contacts.records, key=int)[:250]
    for rid in first:
        archive(emulator.contacts, rid, now_ms(), emulator.members)
    records = _read(emulator, tmp_path, "contacts", since="2020-01-01T00:00:00Z")
    live = [r for r in records if not r.get("deleted")]
    assert sorted(r["source_id"] for r in live) == sorted(emulator.contacts.records)
    searches = [json.loads(e.body or "{}") for e in recorded(emulator) if "search" in e.path]
    assert searches[1].get("after") == "200", "the empty first page's cursor was followed"
