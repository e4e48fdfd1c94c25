"""Klaviyo source: canonical records, consent, event mapping, incremental reads with lookback."""

from __future__ import annotations

import time
from collections import Counter
from datetime import UTC, datetime, timedelta

from cdp_klaviyo import SPEC
from cdp_klaviyo.mapping import EVENT_TYPES_BY_METRIC
from connector.schema.records import validate_event, validate_profile


def _source(settings, ctx):
    return SPEC.source(settings.model_dump() | {"api_key": "pk_test"}, ctx)


def _requests(emulator, path, since=0.0):
    return [r for r in emulator.recorder.entries() if r.path == path and r.time >= since]


def test_full_pull_yields_every_profile_once_in_the_canonical_layout(
    emulator, settings, ctx
) -> None:
    source = _source(settings, ctx)
    profiles = {s.name: s for s in source.streams()}["profiles"]
    records = list(source.read(profiles, None))
    assert sorted(r["source_id"] for r in records) == sorted(emulator.store.profiles)
    for record in records:
        valid = validate_profile(record, source="klaviyo", region="US")
        assert valid.ids["klaviyo_id"] == record["source_id"]
        stored = emulator.store.profiles[record["source_id"]]
        if stored.get("external_id"):
            assert valid.ids["external_id"] == stored["external_id"]
        expected = {
            "SUBSCRIBED": "granted",
            "UNSUBSCRIBED": "denied",
            "NEVER_SUBSCRIBED": "unknown",
        }
        assert valid.consent["email"][0] == expected[stored["subscriptions"]["email"]]
        if stored["subscriptions"].get("sms"):
            assert valid.consent["sms"][0] == expected[stored["subscriptions"]["sms"]]
    first = _requests(emulator, "/api/profiles")[0]
    assert first.query["additional-fields[profile]"] == ["subscriptions"]
    assert first.query["page[size]"] == ["100"]


def test_events_map_to_canonical_types_with_order_detail(emulator, settings, ctx) -> None:
    source = _source(settings, ctx)
    events = {s.name: s for s in source.streams()}["events"]
    records = list(source.read(events, None))
    names = {mid: m["name"] for mid, m in emulator.store.metrics.items()}
    mapped = [
        e for e in emulator.store.events.values() if names[e["metric_id"]] in EVENT_TYPES_BY_METRIC
    ]
    assert sorted(r["source_event_id"] for r in records) == sorted(e["id"] for e in mapped)
    types = Counter(r["type"] for r in records)
    assert set(types) == {
        "order_completed",
        "product_ordered",
        "product_viewed",
        "checkout_started",
        "email_opened",
        "email_clicked",
    }
    order = next(r for r in records if r["type"] == "order_completed")
    valid = validate_event(order, source="klaviyo", region="US")
    raw = emulator.store.events[order["source_event_id"]]["properties"]
    assert valid.revenue == raw["$value"]
    assert valid.currency == "USD"
    assert [p["id"] for p in valid.properties["products"]] == [i["ProductID"] for i in raw["Items"]]
    assert valid.properties["categories"] == raw["Categories"]
    assert order["email"] == emulator.store.profiles[order["ids"]["klaviyo_id"]]["email"]
    for record in records:
        validate_event(record, source="klaviyo", region="US")
    assert all(r["revenue"] is None for r in records if r["type"] != "order_completed")


def test_incremental_read_sends_the_inclusive_bound_and_gets_only_changes(
    emulator, settings, ctx
) -> None:
    source = _source(settings, ctx)
    streams = {s.name: s for s in source.streams()}
    full = list(source.read(streams["profiles"], None))
    mark = max(datetime.fromisoformat(r["updated_at"]) for r in full)
    emulator.seed({"update_profiles": 5, "new_events": 40})
    started = time.time()
    since = (mark - timedelta(minutes=5)).astimezone(UTC).isoformat()
    changed = list(source.read(streams["profiles"], since))
    sent = _requests(emulator, "/api/profiles", started)[0].query["filter"][0]
    # Klaviyo offers only greater-than on updated: the bound moves back a second to include it.
    bound = (mark - timedelta(minutes=5, seconds=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert sent == f"greater-than(updated,{bound})"
    lookback = [
        r for r in full if datetime.fromisoformat(r["updated_at"]) >= mark - timedelta(minutes=5)
    ]
    touched = {pid for pid, p in emulator.store.profiles.items() if p["first_name"].endswith("*")}
    assert {r["source_id"] for r in changed} == touched | {r["source_id"] for r in lookback}
    events = list(source.read(streams["events"], mark.isoformat()))
    fresh = [e for e in emulator.store.events.values() if e["timestamp"] >= mark.timestamp()]
    names = {mid: m["name"] for mid, m in emulator.store.metrics.items()}
    expected = {e["id"] for e in fresh if names[e["metric_id"]] in EVENT_TYPES_BY_METRIC}
    assert len(expected) > 30  # the 40 new events, minus unmapped metrics, plus the boundary
    assert sorted(r["source_event_id"] for r in events) == sorted(expected)
    filters = [r.query["filter"][0] for r in _requests(emulator, "/api/events", started)]
    assert all("greater-or-equal(datetime," in f for f in filters)


def test_consent_is_dated_by_klaviyo_and_a_refusal_suppression_is_a_denial() -> None:
    """The statement's date is Klaviyo's ``consent_timestamp``, not the profile's ``updated``
    (an edit to a name would otherwise make an old grant newer than a later opt-out
    elsewhere); a global suppression for an unsubscribe or a spam complaint is a denial at the
    suppression's time whatever ``consent`` says, and a bounce says nothing of consent."""
    from cdp_klaviyo.mapping import map_profile

    def profile(marketing: dict[str, object]) -> dict[str, object]:
        subs = {"email": {"marketing": marketing}}
        attrs = {"email": "ann@example.org", "updated": "2030-05-01T00:00:00+00:00"}
        return {"id": "01K", "attributes": attrs | {"subscriptions": subs}}

    def said(marketing: dict[str, object]) -> tuple[str, str]:
        record = validate_profile(map_profile(profile(marketing)), source="k", region="US")
        status, at = record.consent["email"]
        return str(status), at.isoformat()[:10] if at else "undated"

    granted = {"consent": "SUBSCRIBED", "consent_timestamp": "2030-01-01T00:00:00+00:00"}
    assert said(granted) == ("granted", "2030-01-01")
    complaint = {"reason": "SPAM_COMPLAINT", "timestamp": "2030-03-01T00:00:00+00:00"}
    assert said(granted | {"suppression": [complaint]}) == ("denied", "2030-03-01")
    bounce = {"reason": "HARD_BOUNCE", "timestamp": "2030-03-01T00:00:00+00:00"}
    assert said(granted | {"suppression": [bounce]}) == ("granted", "2030-01-01")
    # an unsubscribe after an older manual suppression is dated by the unsubscribe
    manual = {"reason": "USER_SUPPRESSED", "timestamp": "2030-02-01T00:00:00+00:00"}
    later = {"consent": "UNSUBSCRIBED", "consent_timestamp": "2030-04-01T00:00:00+00:00"}
    assert said(later | {"suppression": [manual]}) == ("denied", "2030-04-01")
    never = {"consent": "NEVER_SUBSCRIBED", "consent_timestamp": None}
    assert said(never) == ("unknown", "2030-05-01")


def test_an_unsubscribe_that_leaves_updated_alone_is_still_read(emulator, settings, ctx) -> None:
    """Klaviyo does not document that a subscription change moves a profile's ``updated``, and
    the emulator leaves it alone: an incremental read finds the unsubscribed profile by its
    suppression time, a denial dated by the unsubscribe. Sent with the official SDK's
    ``bulk_unsubscribe_profiles``, as a marketer's tool would."""
    from cdp_klaviyo.client import KlaviyoClient

    source = _source(settings, ctx)
    profiles = {s.name: s for s in source.streams()}["profiles"]
    full = list(source.read(profiles, None))
    mark = max(datetime.fromisoformat(r["updated_at"]) for r in full)
    subscribed = next(
        p for p in emulator.store.profiles.values() if p["subscriptions"]["email"] == "SUBSCRIBED"
    )
    before = subscribed["updated"]
    time.sleep(1.1)  # the unsubscribe lands after the mark
    body = {
        "data": {
            "type": "profile-subscription-bulk-delete-job",
            "attributes": {
                "profiles": {
                    "data": [
                        {
                            "type": "profile",
                            "attributes": {
                                "email": subscribed["email"],
                                "subscriptions": {
                                    "email": {"marketing": {"consent": "UNSUBSCRIBED"}}
                                },
                            },
                        }
                    ]
                }
            },
        }
    }
    KlaviyoClient(settings).api.Profiles.bulk_unsubscribe_profiles(body)
    assert emulator.store.profiles[subscribed["id"]]["updated"] == before
    changed = list(source.read(profiles, mark.isoformat()))
    mine = [r for r in changed if r["source_id"] == subscribed["id"]]
    assert len(mine) == 1, [r["source_id"] for r in changed]
    record = validate_profile(mine[0], source="klaviyo", region="US")
    status, at = record.consent["email"]
    assert str(status) == "denied"
    assert at is not None
    assert at > mark
    assert len({r["source_id"] for r in changed}) == len(changed)  # each profile once
