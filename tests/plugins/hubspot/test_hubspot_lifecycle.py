"""A portal that changes while we read it: edits during a backfill, archives, merges, deals
leaving closed-won; every change made through the official SDK against the emulator."""

from __future__ import annotations

import json
from datetime import timedelta

import urllib3
from hubspot import HubSpot
from hubspot_helpers import TOKEN, recorded, settings_for

from cdp_hubspot import SPEC
from cdp_hubspot.emulator import HubSpotEmulator
from connector.schema.normalise import parse_timestamp, to_iso
from connector.testing import make_context

LOOKBACK = timedelta(minutes=10)


def sdk(emu: HubSpotEmulator) -> HubSpot:
    return HubSpot(
        access_token=TOKEN,
        host=emu.base_url,
        base_url=emu.base_url,
        retry=urllib3.util.Retry(total=0, redirect=0),
    )


def _source(emu: HubSpotEmulator, tmp_path):
    return SPEC.source(settings_for(emu), make_context(tmp_path))  # type: ignore[misc]


def _read(source, name: str, since: str | None) -> list[dict]:
    stream = next(s for s in source.streams() if s.name == name)
    return list(source.read(stream, since))


def test_backfill_of_12000_contacts_while_500_read_ones_are_edited_reads_every_contact(
    emulator, tmp_path
):
    emulator.seed({"profiles": 12_000, "deals": 0})
    client = sdk(emulator)
    source = _source(emulator, tmp_path)
    stream = next(s for s in source.streams() if s.name == "contacts")
    seen: dict[str, dict] = {}
    edited: list[str] = []
    for record in source.read(stream, None):
        seen[record["source_id"]] = record
        # after each of pages 2..6, 100 contacts already read are edited through the SDK
        if len(seen) % 200 == 0 and 400 <= len(seen) <= 1200:
            batch = [rid for rid in seen if rid not in edited][:100]
            client.crm.contacts.batch_api.update(
                batch_input_simple_public_object_batch_input={
                    "inputs": [{"id": rid, "properties": {"city": "Porto"}} for rid in batch]
                }
            )
            edited += batch
    assert len(edited) == 500
    assert set(seen) == set(emulator.contacts.records), "every contact read once"
    # The next run's window (from the mark minus the lookback) holds the edited versions.
    mark = max(r["updated_at"] for r in seen.values())
    again = _read(source, "contacts", to_iso(parse_timestamp(mark) - LOOKBACK))
    fresh = {r["source_id"]: r for r in again}
    assert set(edited) <= set(fresh)
    assert all(fresh[rid]["city"] == "Porto" for rid in edited)


def test_archived_contacts_become_tombstones_and_merges_join_ids(emulator, tmp_path):
    emulator.seed({"profiles": 60, "deals": 0})
    client = sdk(emulator)
    source = _source(emulator, tmp_path)
    first = _read(source, "contacts", None)
    assert not [r for r in first if r.get("deleted") or r.get("merged_into")]
    since = to_iso(parse_timestamp(max(r["updated_at"] for r in first)) - LOOKBACK)
    ids = sorted(emulator.contacts.records, key=int)
    client.crm.contacts.basic_api.archive(contact_id=ids[0])
    client.crm.contacts.batch_api.archive(
        batch_input_simple_public_object_id={"inputs": [{"id": ids[1]}, {"id": ids[2]}]}
    )
    merged = client.crm.contacts.basic_api.merge(
        public_merge_input={"primaryObjectId": ids[3], "objectIdToMerge": ids[4]}
    )
    survivor = merged.id
    assert survivor not in ids, "a merge makes a record with a new id"
    records = _read(source, "contacts", since)
    tombstones = {r["source_id"] for r in records if r.get("deleted")}
    assert tombstones == {ids[0], ids[1], ids[2]}
    assert all(r["deleted_at"] for r in records if r.get("deleted"))
    joins = {r["source_id"]: r["merged_into"] for r in records if r.get("merged_into")}
    assert joins == {ids[3]: survivor, ids[4]: survivor}
    alive = {r["source_id"] for r in records if "email" in r}
    assert survivor in alive
    assert not alive & {ids[0], ids[1], ids[2], ids[3], ids[4]}
    # search never returns archived records; the list endpoint does with archived=true
    page = client.crm.contacts.basic_api.get_page(archived=True, limit=100)
    assert {r.id for r in page.results} == {ids[0], ids[1], ids[2]}
    assert all(r.archived and r.archived_at for r in page.results)
    # an old id of a merged record reads as the merged record
    assert client.crm.contacts.basic_api.get_by_id(contact_id=ids[3]).id == survivor


def test_a_merge_survivor_archived_before_any_scan_saw_it_still_reports_the_merge(
    emulator, tmp_path
):
    """The survivor's ``hs_merged_object_ids`` is the only record of a merge; when the survivor
    is archived before a scan reads it alive, the archived listing must still carry it."""
    emulator.seed({"profiles": 20, "deals": 0})
    client = sdk(emulator)
    source = _source(emulator, tmp_path)
    first = _read(source, "contacts", None)
    since = to_iso(parse_timestamp(max(r["updated_at"] for r in first)) - LOOKBACK)
    a, b = sorted(emulator.contacts.records, key=int)[:2]
    survivor = client.crm.contacts.basic_api.merge(
        public_merge_input={"primaryObjectId": a, "objectIdToMerge": b}
    ).id
    client.crm.contacts.basic_api.archive(contact_id=survivor)
    records = _read(source, "contacts", since)
    joins = {r["source_id"]: r["merged_into"] for r in records if r.get("merged_into")}
    assert joins == {a: survivor, b: survivor}
    (gone,) = [r for r in records if r.get("deleted")]
    assert gone["source_id"] == survivor
    # each tombstone names its contact id, so a record never read alive stands for its deals
    assert gone["ids"] == {"hubspot_id": survivor}
    assert all(r["ids"] == {"hubspot_id": r["source_id"]} for r in records if r.get("merged_into"))


def test_a_contact_deleted_for_good_is_found_by_reconciling_ids(emulator, tmp_path):
    """A GDPR delete leaves no archived record and no modification: only a reconciliation of
    the ids we read against the ids HubSpot lists finds it, and a merged-away id HubSpot still
    reads as its survivor is a merge, not a deletion."""
    emulator.seed({"profiles": 150, "deals": 0})
    client = sdk(emulator)
    ctx = make_context(tmp_path)
    source = SPEC.source(settings_for(emulator, contact_reconcile_hours=0), ctx)  # type: ignore[misc]
    first = _read(source, "contacts", None)
    assert not [r for r in first if r.get("deleted") or r.get("merged_into")]
    since = to_iso(parse_timestamp(max(r["updated_at"] for r in first)) - LOOKBACK)
    ids = sorted(emulator.contacts.records, key=int)
    client.crm.contacts.basic_api.purge(public_gdpr_delete_input={"objectId": ids[7]})
    client.crm.contacts.basic_api.archive(contact_id=ids[8])
    survivor = client.crm.contacts.basic_api.merge(
        public_merge_input={"primaryObjectId": ids[9], "objectIdToMerge": ids[10]}
    ).id
    # a merge the scans cannot see: its survivor merged again into an id nothing lists yet
    emulator.contacts.merged_into[ids[11]] = survivor
    emulator.contacts.remove(ids[11])
    records = _read(source, "contacts", since)
    deleted = {r["source_id"]: r for r in records if r.get("deleted")}
    assert set(deleted) == {ids[7], ids[8]}, "the GDPR-deleted and the archived contact"
    assert deleted[ids[7]]["ids"] == {"hubspot_id": ids[7]}
    joins = {r["source_id"]: r["merged_into"] for r in records if r.get("merged_into")}
    assert joins == {ids[9]: survivor, ids[10]: survivor, ids[11]: survivor}
    # the tombstone is said again on later runs (a run that dies before storing loses nothing)
    again = _read(source, "contacts", since)
    assert ids[7] in {r["source_id"] for r in again if r.get("deleted")}
    assert ids[11] not in {r["source_id"] for r in again if r.get("deleted")}


def test_first_run_reports_only_archives_made_during_its_own_scan(emulator, tmp_path):
    emulator.seed({"profiles": 30, "deals": 0})
    client = sdk(emulator)
    ids = sorted(emulator.contacts.records, key=int)
    client.crm.contacts.basic_api.archive(contact_id=ids[0])  # before the first run
    source = _source(emulator, tmp_path)
    stream = next(s for s in source.streams() if s.name == "contacts")
    out = []
    for record in source.read(stream, None):
        out.append(record)
        if len(out) == 5:
            client.crm.contacts.basic_api.archive(contact_id=ids[2])  # read already
    assert [r["source_id"] for r in out if r.get("deleted")] == [ids[2]]


def test_deal_leaving_closed_won_or_archived_retracts_its_order(emulator, tmp_path):
    emulator.seed({"profiles": 30, "deals": 60})
    client = sdk(emulator)
    source = _source(emulator, tmp_path)
    orders = {e["source_event_id"]: e for e in _read(source, "deals", None)}
    since = to_iso(parse_timestamp(max(e["updated_at"] for e in orders.values())) - LOOKBACK)
    deals = emulator.deals.records
    lost_default = next(r for r in orders if deals[r].props["pipeline"] == "default")
    lost_renewal = next(r for r in orders if deals[r].props["pipeline"] != "default")
    deleted = next(r for r in orders if r not in (lost_default, lost_renewal))
    client.crm.deals.basic_api.update(
        deal_id=lost_default, simple_public_object_input={"properties": {"dealstage": "closedlost"}}
    )
    client.crm.deals.basic_api.update(
        deal_id=lost_renewal, simple_public_object_input={"properties": {"dealstage": "1040003"}}
    )
    client.crm.deals.basic_api.archive(deal_id=deleted)
    contact = sorted(emulator.contacts.records, key=int)[0]
    won = client.crm.deals.basic_api.create(
        simple_public_object_input_for_create={
            "properties": {"dealname": "Renewal", "amount": "99", "pipeline": "705209413",
                           "dealstage": "1040002", "closedate": "2024-01-05T00:00:00Z"},
            "associations": [{"to": {"id": contact}, "types": [
                {"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 3}]}],
        }
    )  # fmt: skip
    events = {e["source_event_id"]: e for e in _read(source, "deals", since)}
    for rid in (lost_default, lost_renewal, deleted):
        assert events[rid]["type"] == "order_cancelled", rid
        assert events[rid]["properties"]["order_id"] == rid
        assert events[rid]["revenue"] is None
    assert events[deleted]["properties"]["reason"] == "deleted"
    assert "updated_at" not in events[deleted], "an archive time never moves the cursor"
    assert events[won.id]["type"] == "order_completed"
    assert events[won.id]["ids"] == {"hubspot_id": contact}
    reads = [
        json.loads(e.body or "{}")["inputs"]
        for e in recorded(emulator)
        if e.path.startswith("/crm/v4/associations/")
    ]
    # one batch for the page of changed live deals, one for the archived deal
    live, gone = ({i["id"] for i in r} for r in reads[-2:])
    assert live >= {lost_default, lost_renewal, won.id}
    assert gone == {deleted}


def test_emulator_serves_the_sdk_read_routes_we_touch(emulator):
    emulator.seed({"profiles": 10, "deals": 10})
    client = sdk(emulator)
    pipelines = client.crm.pipelines.pipelines_api.get_all(object_type="deals").results
    assert [p.id for p in pipelines] == ["default", "705209413"]
    one = client.crm.pipelines.pipelines_api.get_by_id(object_type="deals", pipeline_id="705209413")
    stages = client.crm.pipelines.pipeline_stages_api.get_all(
        object_type="deals", pipeline_id="705209413"
    ).results
    assert [s.id for s in stages] == [s.id for s in one.stages]
    deal = sorted(emulator.deals.records, key=int)[0]
    assoc = client.crm.associations.v4.basic_api.get_page(
        object_type="deals", object_id=deal, to_object_type="contacts"
    )
    assert [str(a.to_object_id) for a in assoc.results] == sorted(
        emulator.deals.records[deal].associations["contacts"], key=int
    )
    client.crm.deals.basic_api.archive(deal_id=deal)
    gone = client.crm.deals.basic_api.get_by_id(deal_id=deal, archived=True)
    assert gone.archived
    assert gone.id == deal
    batch = client.crm.deals.batch_api.read(
        batch_read_input_simple_public_object_id={"inputs": [{"id": deal}], "properties": []},
        archived=True,
    )
    assert [r.id for r in batch.results] == [deal]
