"""The Klaviyo emulator as a live account: every read the official SDK offers for the resources
the connector touches, the revision check, and the writes that change an account under us."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
import urllib3
from klaviyo_api import KlaviyoAPI
from klaviyo_support import SPECS, Identities, SpecRecorder, apply_all, member, upsert
from openapi_client.exceptions import ApiException

from cdp_klaviyo import SPEC
from cdp_klaviyo.emulator import KlaviyoEmulator
from connector.plugin.changes import ChangeKind, OutcomeStatus, SegmentRef

needs_specs = pytest.mark.skipif(not SPECS.exists(), reason="official Klaviyo specs not found")


def _typed(emulator: KlaviyoEmulator) -> KlaviyoAPI:
    """The SDK in its default typed mode: a response off the spec raises ValidationError."""
    return KlaviyoAPI("pk_test", max_delay=0.1, max_retries=1, test_host=emulator.base_url)


def _raw(emu: KlaviyoEmulator, path: str, revision: str | None) -> urllib3.BaseHTTPResponse:
    headers = {"Authorization": "Klaviyo-API-Key pk_test"}
    if revision is not None:
        headers["revision"] = revision
    return urllib3.PoolManager(retries=False).request("GET", emu.base_url + path, headers=headers)


def _members_list(api: KlaviyoAPI, emulator: KlaviyoEmulator, n: int) -> tuple[str, list[str]]:
    created = api.Lists.create_list({"data": {"type": "list", "attributes": {"name": "VIP"}}})
    list_id = created.data.id
    pids = sorted(emulator.store.profiles)[:n]
    body = {"data": [{"type": "profile", "id": p} for p in pids]}
    api.Lists.add_profiles_to_list(list_id, body)
    return list_id, pids


@needs_specs
def test_list_members_are_served_page_by_page(emulator) -> None:
    recorder = SpecRecorder(emulator)
    api = _typed(emulator)
    list_id, pids = _members_list(api, emulator, 45)
    seen: list[str] = []
    ids: list[str] = []
    cursor: str | None = None
    while True:
        page = api.Lists.get_profiles_for_list(list_id, page_size=20, page_cursor=cursor)
        seen += [p.id for p in page.data]
        rel = api.Lists.get_profile_ids_for_list(list_id, page_size=20, page_cursor=cursor)
        ids += [p.id for p in rel.data]
        cursor = page.links.next
        if not cursor:
            break
    assert sorted(seen) == sorted(ids) == pids
    assert len(seen) == 45
    counts = recorder.validate()
    assert counts["get_profiles_for_list"] == 3
    assert counts["get_profile_ids_for_list"] == 3
    missing = api.api_client.rest_client.pool_manager.request(
        "GET",
        f"{emulator.base_url}/api/lists/NOPE/profiles",
        headers={"Authorization": "Klaviyo-API-Key pk_test", "revision": "2026-10-15"},
    )
    assert missing.status == 404


@needs_specs
def test_every_sdk_read_of_profiles_events_metrics_lists_and_jobs_is_served(emulator) -> None:
    recorder = SpecRecorder(emulator)
    api = _typed(emulator)
    list_id, pids = _members_list(api, emulator, 3)
    event = next(iter(emulator.store.events.values()))
    assert api.Profiles.get_profile(pids[0]).data.id == pids[0]
    assert [x.id for x in api.Profiles.get_lists_for_profile(pids[0]).data] == [list_id]
    assert [x.id for x in api.Profiles.get_list_ids_for_profile(pids[0]).data] == [list_id]
    assert api.Events.get_event(event["id"]).data.id == event["id"]
    assert api.Events.get_profile_for_event(event["id"]).data.id == event["profile_id"]
    assert api.Events.get_metric_for_event(event["id"]).data.id == event["metric_id"]
    assert api.Events.get_profile_id_for_event(event["id"]).data.id == event["profile_id"]
    assert api.Events.get_metric_id_for_event(event["id"]).data.id == event["metric_id"]
    assert api.Metrics.get_metric(event["metric_id"]).data.id == event["metric_id"]
    assert api.Lists.get_list(list_id).data.attributes.name == "VIP"
    job = api.Profiles.bulk_import_profiles(
        {
            "data": {
                "type": "profile-bulk-import-job",
                "attributes": {
                    "profiles": {
                        "data": [{"type": "profile", "attributes": {"email": "new@example.com"}}]
                    }
                },
                "relationships": {"lists": {"data": [{"type": "list", "id": list_id}]}},
            }
        }
    )
    jid = job.data.id
    for _ in range(2):
        api.Profiles.get_bulk_import_profiles_job(jid)
    assert [j.id for j in api.Profiles.get_bulk_import_profiles_jobs().data] == [jid]
    assert [x.id for x in api.Profiles.get_list_for_bulk_import_profiles_job(jid).data] == [list_id]
    assert [x.id for x in api.Profiles.get_list_ids_for_bulk_import_profiles_job(jid).data] == [
        list_id
    ]
    made = [p.id for p in api.Profiles.get_profiles_for_bulk_import_profiles_job(jid).data]
    assert len(made) == 1
    assert emulator.store.profiles[made[0]]["email"] == "new@example.com"
    assert [
        p.id for p in api.Profiles.get_profile_ids_for_bulk_import_profiles_job(jid).data
    ] == made
    with pytest.raises(ApiException) as gone:
        api.Profiles.get_profile("01NOSUCHPROFILE")
    assert gone.value.status == 404
    counts = recorder.validate()
    for op in ("get_profile", "get_event", "get_metric", "get_list"):
        assert counts[op] >= 1


@pytest.mark.parametrize(
    ("revision", "status"),
    [
        ("2026-10-15", 200),  # what klaviyo-api 25 sends
        ("2026-07-15.pre", 200),  # a beta revision
        ("not-a-date", 400),  # malformed
        ("2026-13-45", 400),  # not a date
        ("15-10-2026", 400),
        ("2099-01-15", 404),  # "Unable to specify a future revision date."
        ("2023-02-22", 410),  # retired: two years of support are over
        (None, 400),  # missing
    ],
)
def test_the_revision_header_is_checked_as_klaviyo_checks_it(emulator, revision, status) -> None:
    resp = _raw(emulator, "/api/metrics", revision)
    assert resp.status == status
    if status != 200:
        error = json.loads(resp.data)["errors"][0]
        assert error["status"] == status
        assert error["source"] == {"parameter": "revision"}
        assert error["detail"]


def test_the_sdk_surfaces_a_refused_revision(emulator) -> None:
    api = _typed(emulator)
    api.api_client.default_headers["revision"] = "not-a-date"
    with pytest.raises(ApiException) as refused:
        api.Metrics.get_metrics()
    assert refused.value.status == 400
    assert "revision" in (refused.value.body or "")


@needs_specs
def test_profile_edits_merges_and_deletions_change_what_is_read(emulator) -> None:
    recorder = SpecRecorder(emulator)
    api = _typed(emulator)
    a, b, c = sorted(emulator.store.profiles)[:3]
    before = emulator.store.profiles[a]["updated"]
    body = {
        "data": {"type": "profile", "id": a, "attributes": {"first_name": "Zoë", "title": None}}
    }
    assert api.Profiles.update_profile(a, body).data.attributes.first_name == "Zoë"
    edited = emulator.store.profiles[a]
    assert edited["title"] is None
    assert edited["updated"] >= before
    b_events = [e["id"] for e in emulator.store.events.values() if e["profile_id"] == b]
    merge = {
        "data": {
            "type": "profile-merge",
            "id": a,
            "relationships": {"profiles": {"data": [{"type": "profile", "id": b}]}},
        }
    }
    assert api.Profiles.merge_profiles(merge).data.id == a
    assert b not in emulator.store.profiles
    assert all(emulator.store.events[e]["profile_id"] == a for e in b_events)
    c_events = [e for e, ev in emulator.store.events.items() if ev["profile_id"] == c]
    assert c_events
    assert emulator.delete_profiles([c]) == 1
    assert c not in emulator.store.profiles
    assert not set(c_events) & set(emulator.store.events)
    ids = {p.id for p in api.Profiles.get_profiles(page_size=100).data}
    assert a in ids
    assert not {b, c} & ids
    counts = recorder.validate()
    assert counts["update_profile"] == 1


def test_deleted_and_merged_profiles_become_tombstones_at_the_cadence(emulator, ctx) -> None:
    settings = {"api_key": "pk_test", "base_url": emulator.base_url}
    source = SPEC.source(settings, ctx)
    profiles = {s.name: s for s in source.streams()}["profiles"]
    first = list(source.read(profiles, None))
    assert not [r for r in first if r.get("deleted")]
    a, b, c, d = sorted(emulator.store.profiles)[:4]
    emulator.delete_profiles([c, d])
    merge = {
        "data": {
            "type": "profile-merge",
            "id": a,
            "relationships": {"profiles": {"data": [{"type": "profile", "id": b}]}},
        }
    }
    _typed(emulator).Profiles.merge_profiles(merge)

    def listings() -> int:
        return sum(
            1
            for r in emulator.recorder.entries()
            if r.path == "/api/profiles" and r.query.get("fields[profile]") == ["created"]
        )

    # The default cadence (24 h) has not come round: no listing, no tombstone yet.
    assert listings() == 1
    later = list(source.read(profiles, None))
    assert not [r for r in later if r.get("deleted")]
    assert listings() == 1
    # Due (cadence 0): the ids gone since become tombstones, and again on the next run.
    due = SPEC.source(settings | {"profile_reconcile_hours": 0}, ctx)
    for _ in range(2):
        stones = [r for r in due.read(profiles, None) if r.get("deleted")]
        assert stones == [{"source_id": x, "deleted": True} for x in sorted((b, c, d))]
    assert listings() == 3


def test_the_sink_copes_with_profiles_deleted_in_klaviyo_since_it_learned_their_ids(
    emulator, settings, ctx
) -> None:
    vip = SegmentRef("seg-vip", "VIP")
    sink = SPEC.sink(settings.model_dump() | {"api_key": "pk_test"}, ctx)
    sink.prepare([], [vip])
    people = sorted(
        (p["id"], p["email"]) for p in emulator.store.profiles.values() if p.get("email")
    )[:4]
    ids = Identities({f"p-{kid}": kid for kid, _ in people})
    adds = [member(ChangeKind.ADD, ids.recipient(f"p-{k}", e), vip) for k, e in people]
    assert all(o.status is OutcomeStatus.OK for o in apply_all(sink, adds, ids))
    (gone, gone_email), (back, back_email) = people[0], people[1]
    emulator.delete_profiles([gone, back])
    # removing a deleted profile from a list is done: it is in no list any more
    out = apply_all(sink, [member(ChangeKind.REMOVE, ids.recipient(f"p-{gone}", gone_email), vip)])
    assert [o.status for o in out] == [OutcomeStatus.OK]
    # a person still alive elsewhere, whose learned id is stale: re-keyed by email, new id learned
    out = apply_all(sink, [upsert(ids.recipient(f"p-{back}", back_email), {"tier": "a"})], ids)
    assert [o.status for o in out] == [OutcomeStatus.OK]
    new_id = ids.ids[f"p-{back}"]
    assert new_id != back
    assert emulator.store.profiles[new_id]["email"] == back_email
    assert emulator.store.profiles[new_id]["properties"] == {"tier": "a"}
    # traits taken back from a gone profile (a merged-away person's own record, addressed with
    # the survivor's e-mail): done, and never re-keyed onto the profile at that address
    gone_record = replace(ids.recipient(f"p-{back}", back_email), ids={"klaviyo_id": back})
    clear = replace(upsert(gone_record, {}), unset=("tier",), clears=True)
    assert [o.status for o in apply_all(sink, [clear])] == [OutcomeStatus.OK]
    assert emulator.store.profiles[new_id]["properties"] == {"tier": "a"}
