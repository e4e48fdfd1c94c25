"""The Klaviyo emulator speaks the wire protocol: spec-valid responses, SDK-readable, limits."""

from __future__ import annotations

import json

import pytest
import urllib3
from klaviyo_api import KlaviyoAPI
from klaviyo_support import SPECS, SpecRecorder

from cdp_klaviyo.client import KlaviyoClient, next_cursor
from cdp_klaviyo.emulator import KlaviyoEmulator
from connector.plugin.spec import EmulatorOptions

needs_specs = pytest.mark.skipif(
    not SPECS.exists(), reason="official Klaviyo specs not found at ../shared/specs/klaviyo/apis"
)


def _raw(emu: KlaviyoEmulator, method: str, path: str, body: object = None, **headers: str):
    http = urllib3.PoolManager(retries=False)
    hdrs = {"Authorization": "Klaviyo-API-Key pk_test", "revision": "2026-10-15", **headers}
    data = json.dumps(body).encode() if body is not None else None
    return http.request(method, emu.base_url + path, body=data, headers=hdrs)


def _flow(client: KlaviyoClient, emu: KlaviyoEmulator) -> None:
    """Touch every operation the plugin uses, including error and paging paths."""
    api = client.api
    first = client.call(
        "profiles_read",
        lambda: api.Profiles.get_profiles(
            filter="greater-than(updated,2025-01-01T00:00:00Z)",
            sort="updated",
            page_size=25,
            additional_fields_profile=["subscriptions"],
        ),
    )
    cursor = next_cursor(first)
    assert cursor
    client.call(
        "profiles_read",
        lambda: api.Profiles.get_profiles(
            page_cursor=cursor, sort="updated", filter="greater-than(updated,2025-01-01T00:00:00Z)"
        ),
    )
    metrics = client.call("metrics_read", api.Metrics.get_metrics)
    mid = metrics["data"][0]["id"]
    client.call(
        "events_read",
        lambda: api.Events.get_events(
            filter=f'equals(metric_id,"{mid}"),greater-or-equal(datetime,2025-02-01T00:00:00Z)',
            sort="datetime",
            page_size=20,
            include=["profile"],
        ),
    )
    lst = client.call(
        "list_create",
        lambda: api.Lists.create_list(
            {"data": {"type": "list", "attributes": {"name": "CDP: spec"}}}
        ),
    )
    list_id = lst["data"]["id"]
    client.call("lists_read", lambda: api.Lists.get_lists(filter='equals(name,"CDP: spec")'))
    pid = first["data"][0]["id"]
    body = {"data": [{"type": "profile", "id": pid}]}
    client.call("list_members", lambda: api.Lists.add_profiles_to_list(list_id, body))
    client.call("list_members", lambda: api.Lists.remove_profiles_from_list(list_id, body))
    job = client.call(
        "bulk_import",
        lambda: api.Profiles.bulk_import_profiles(
            {
                "data": {
                    "type": "profile-bulk-import-job",
                    "attributes": {
                        "profiles": {
                            "data": [
                                {
                                    "type": "profile",
                                    "attributes": {
                                        "email": "new@example.com",
                                        "properties": {"s": 1},
                                    },
                                },
                                {"type": "profile", "attributes": {"email": "broken"}},
                            ]
                        }
                    },
                    "relationships": {"lists": {"data": [{"type": "list", "id": list_id}]}},
                }
            }
        ),
    )
    job_id = job["data"]["id"]
    for _ in range(2):
        client.call("bulk_import", lambda: api.Profiles.get_bulk_import_profiles_job(job_id))
    client.call("bulk_import", lambda: api.Profiles.get_errors_for_bulk_import_profiles_job(job_id))


@needs_specs
def test_every_response_used_validates_against_the_official_spec(emulator, settings) -> None:
    recorder = SpecRecorder(emulator)
    client = KlaviyoClient(settings)
    _flow(client, emulator)
    # Error documents too: a bad page size, an unknown list, a throttled request.
    _raw(emulator, "GET", "/api/profiles?page%5Bsize%5D=500")
    _raw(
        emulator,
        "POST",
        "/api/lists/nope/relationships/profiles",
        {"data": [{"type": "profile", "id": "x"}]},
    )
    emulator.faults.set_rules([])
    _raw(
        emulator,
        "POST",
        "/__emulator__/faults",
        {"rules": [{"path": "/api/metrics", "status": 429, "count": 1, "retry_after": 1}]},
    )
    _raw(emulator, "GET", "/api/metrics")
    counts = recorder.validate()
    assert set(counts) == {
        "get_profiles",
        "get_events",
        "get_metrics",
        "bulk_import_profiles",
        "get_bulk_import_profiles_job",
        "get_errors_for_bulk_import_profiles_job",
        "get_lists",
        "create_list",
        "add_profiles_to_list",
        "remove_profiles_from_list",
    }


def test_typed_sdk_models_deserialise_every_response(emulator) -> None:
    """Without dict mode the SDK parses into its pydantic models; nothing may fail there."""
    api = KlaviyoAPI("pk_test", max_retries=1, max_delay=0, test_host=emulator.base_url)
    profiles = api.Profiles.get_profiles(page_size=5, additional_fields_profile=["subscriptions"])
    assert len(profiles.data) == 5
    metrics = api.Metrics.get_metrics()
    events = api.Events.get_events(
        filter=f'equals(metric_id,"{metrics.data[0].id}")', include=["profile"], page_size=5
    )
    assert events.data
    assert events.included
    lst = api.Lists.create_list({"data": {"type": "list", "attributes": {"name": "typed"}}})
    assert api.Lists.get_lists(filter='equals(name,"typed")').data[0].id == lst.data.id
    job = api.Profiles.bulk_import_profiles(
        {
            "data": {
                "type": "profile-bulk-import-job",
                "attributes": {
                    "profiles": {"data": [{"type": "profile", "attributes": {"email": "x"}}]}
                },
            }
        }
    )
    for _ in range(2):
        status = api.Profiles.get_bulk_import_profiles_job(job.data.id)
    assert status.data.attributes.status == "complete"
    errors = api.Profiles.get_errors_for_bulk_import_profiles_job(job.data.id)
    assert errors.data[0].attributes.detail == "Invalid email address."


def test_requests_need_revision_header_and_private_key(emulator) -> None:
    no_revision = _raw(emulator, "GET", "/api/metrics", revision="")
    assert no_revision.status == 400
    assert no_revision.json()["errors"][0]["source"]["parameter"] == "revision"
    bad_key = _raw(emulator, "GET", "/api/metrics", Authorization="Klaviyo-API-Key nope")
    assert bad_key.status == 401
    assert bad_key.json()["errors"][0]["code"] == "not_authenticated"


def test_next_links_are_https_and_the_sdk_quirk_cursor_is_accepted(emulator) -> None:
    page = _raw(emulator, "GET", "/api/profiles?page%5Bsize%5D=10&sort=id").json()
    assert page["links"]["next"].startswith("https://")
    cursor = next_cursor(page)
    # SDK 25 forwards the cursor with a leading "=" when given a full link (facts 3.1).
    again = _raw(
        emulator, "GET", f"/api/profiles?page%5Bsize%5D=10&sort=id&page%5Bcursor%5D=%3D{cursor}"
    )
    assert again.status == 200
    assert again.json()["data"][0]["id"] != page["data"][0]["id"]
    bad = _raw(emulator, "GET", "/api/profiles?page%5Bcursor%5D=garbage")
    assert bad.status == 400
    assert bad.json()["errors"][0]["detail"] == "Invalid cursor provided."


def test_import_limits_and_list_batch_limits(emulator) -> None:
    too_many = {
        "data": {
            "type": "profile-bulk-import-job",
            "attributes": {
                "profiles": {
                    "data": [
                        {"type": "profile", "attributes": {"email": f"u{i}@example.com"}}
                        for i in range(10_001)
                    ]
                }
            },
        }
    }
    assert _raw(emulator, "POST", "/api/profile-bulk-import-jobs", too_many).status == 400
    big = {
        "data": {
            "type": "profile-bulk-import-job",
            "attributes": {
                "profiles": {
                    "data": [
                        {
                            "type": "profile",
                            "attributes": {
                                "email": f"u{i}@example.com",
                                "properties": {"blob": "x" * 900},
                            },
                        }
                        for i in range(6_000)
                    ]
                }
            },
        }
    }
    assert _raw(emulator, "POST", "/api/profile-bulk-import-jobs", big).status == 400
    lst = _raw(
        emulator, "POST", "/api/lists", {"data": {"type": "list", "attributes": {"name": "L"}}}
    ).json()
    pids = list(emulator.store.profiles)[:1]
    members = {"data": [{"type": "profile", "id": pids[0]}] * 1001}
    resp = _raw(emulator, "POST", f"/api/lists/{lst['data']['id']}/relationships/profiles", members)
    assert resp.status == 400


def test_real_limits_answer_429_with_integer_retry_after() -> None:
    with KlaviyoEmulator(EmulatorOptions(limits="real")) as emu:
        statuses = [_raw(emu, "GET", "/api/metrics") for _ in range(12)]
        throttled = [r for r in statuses if r.status == 429]
        assert throttled, "burst of 10/s on get_metrics was not enforced"
        assert throttled[0].headers["Retry-After"].isdigit()
        assert throttled[0].json()["errors"][0]["code"] == "throttled"


def test_bulk_import_unsets_properties_and_ignores_null(emulator) -> None:
    pid, profile = next(iter(emulator.store.profiles.items()))
    assert profile["properties"]["source"]
    body = {
        "data": {
            "type": "profile-bulk-import-job",
            "attributes": {
                "profiles": {
                    "data": [
                        {
                            "type": "profile",
                            "id": pid,
                            "attributes": {
                                "first_name": None,
                                "properties": {"tier": None, "score": 2},
                            },
                            "meta": {"patch_properties": {"unset": ["source"]}},
                        }
                    ]
                }
            },
        }
    }
    job_id = _raw(emulator, "POST", "/api/profile-bulk-import-jobs", body).json()["data"]["id"]
    states = [
        _raw(emulator, "GET", f"/api/profile-bulk-import-jobs/{job_id}").json()["data"][
            "attributes"
        ]["status"]
        for _ in range(2)
    ]
    assert states == ["processing", "complete"]
    after = emulator.store.profiles[pid]
    assert after["properties"] == {"score": 2}
    assert after["first_name"] == profile["first_name"]


def test_seeding_is_deterministic_and_spans_every_metric() -> None:
    one = KlaviyoEmulator(EmulatorOptions(seed_profiles=40, seed=3))
    two = KlaviyoEmulator(EmulatorOptions(seed_profiles=40, seed=3))
    assert one.snapshot() == two.snapshot()
    snap = one.snapshot()
    assert len(snap["profiles"]) == 40
    assert snap["events"]["total"] == 400
    # every metric drawn at random (refunds and cancellations are catalogued, never drawn)
    assert len(snap["events"]["by_metric"]) == 7
    assert sorted(snap["metrics"].values())[:2] == ["Active on Site", "Cancelled Order"]
    assert len(snap["metrics"]) == 9
    other = KlaviyoEmulator(EmulatorOptions(seed_profiles=40, seed=4)).snapshot()
    assert other["profiles"] != snap["profiles"]
