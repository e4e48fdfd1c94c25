"""Klaviyo source: profiles incremental on ``updated``, events incremental on ``datetime``.

Consent: each incremental read also pages the profiles suppressed since the bound (an
unsubscribe, a spam complaint), by the suppression's own time (``_suppressed_since``).

Deleted profiles have no feed: ``reconcile`` lists every live id at a configurable cadence and
turns the known ids that are gone into tombstones, yielded at the end of the profiles stream.

``since`` from the runner is an inclusive lower bound (mark minus lookback). Klaviyo's profile
filter has only ``greater-than`` on ``updated`` (spec get_profiles), so the bound is moved one
second back to stay inclusive; events support ``greater-or-equal`` directly. Pages are keyset
ordered ascending; a record seen twice within one read (updated while we paged) is yielded
again only when it changed, so the boundary is deduplicated by key.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from datetime import timedelta
from functools import partial
from typing import Any

from cdp_klaviyo.client import KlaviyoClient, next_cursor
from cdp_klaviyo.mapping import EVENT_TYPES_BY_METRIC, safe_map_event, safe_map_profile
from cdp_klaviyo.reconcile import profile_ledger
from cdp_klaviyo.settings import KlaviyoSettings
from connector.sdk import PluginContext, SourceRecord, Stream, parse_timestamp, utcnow

__all__ = ["KlaviyoSource"]

PROFILES = Stream("profiles", "profiles", "timestamp", "updated_at")
# get_profiles filters and sorts on the newest global e-mail suppression's time too
SUPPRESSED_AT = "subscriptions.email.marketing.suppression.timestamp"
# Klaviyo filters events on their own ``datetime`` only (no received-at, FACTS December 2026),
# and backfills or delayed integrations land days late: the stream re-reads 72 h by default
# (``stream_lookback`` changes it); the store keeps one row per event id, so a re-read event
# is counted as overlap, not as new.
EVENTS = Stream("events", "events", "timestamp", "occurred_at", lookback=timedelta(hours=72))


def _iso(value: str) -> str:
    return parse_timestamp(value, field="since").strftime("%Y-%m-%dT%H:%M:%SZ")


class KlaviyoSource:
    def __init__(
        self, settings: KlaviyoSettings, ctx: PluginContext, client: KlaviyoClient | None = None
    ) -> None:
        self.settings = settings
        self.ctx = ctx
        self.client = client or KlaviyoClient(settings)

    def streams(self) -> Sequence[Stream]:
        return (PROFILES, EVENTS)

    def read(self, stream: Stream, since: str | None) -> Iterator[SourceRecord]:
        if stream.name == PROFILES.name:
            return self._profiles(since)
        if stream.name == EVENTS.name:
            return self._events(since)
        raise ValueError(f"unknown Klaviyo stream {stream.name!r}")

    def close(self) -> None:
        self.client.api.api_client.rest_client.pool_manager.clear()

    # ---- profiles -------------------------------------------------------------------------
    def _profiles(self, since: str | None) -> Iterator[SourceRecord]:
        query: dict[str, Any] = {
            "sort": "updated",
            "page_size": self.settings.profile_page_size,
            "additional_fields_profile": ["subscriptions"],
        }
        if since is not None:
            bound = parse_timestamp(since, field="since") - timedelta(seconds=1)
            query["filter"] = f"greater-than(updated,{bound.strftime('%Y-%m-%dT%H:%M:%SZ')})"
        seen: dict[str, str | None] = {}
        pages = self._pages("profiles_read", self.client.api.Profiles.get_profiles, query)
        yield from self._new_versions(pages, seen)
        if since is not None:
            yield from self._new_versions(self._suppressed_since(since), seen)
        yield from self._tombstones(seen)

    def _new_versions(
        self, resources: Iterator[dict[str, Any]], seen: dict[str, str | None]
    ) -> Iterator[SourceRecord]:
        """Each profile once per version: one seen again unchanged (updated while we paged, or
        found by both passes) is not yielded twice."""
        for resource in resources:
            attrs = resource.get("attributes")
            updated = attrs.get("updated") if isinstance(attrs, dict) else None
            rid = str(resource.get("id"))
            if rid in seen and seen[rid] == updated:
                continue
            seen[rid] = updated
            yield self._without_our_properties(safe_map_profile(resource))

    def _suppressed_since(self, since: str) -> Iterator[dict[str, Any]]:
        """Profiles suppressed since ``since`` (an unsubscribe, a spam complaint), read by the
        suppression's own time: Klaviyo does not document that a subscription change moves a
        profile's ``updated``, and a missed "no" would keep someone activated everywhere.
        Found again by the ``updated`` pass, a profile is yielded once."""
        query: dict[str, Any] = {
            "sort": SUPPRESSED_AT,
            "page_size": self.settings.profile_page_size,
            "additional_fields_profile": ["subscriptions"],
            "filter": f"greater-or-equal({SUPPRESSED_AT},{_iso(since)})",
        }
        return self._pages("profiles_read", self.client.api.Profiles.get_profiles, query)

    def _tombstones(self, seen: dict[str, str | None]) -> Iterator[SourceRecord]:
        """Reconcile known ids with the live ones when due; tombstones for the ones gone."""
        ledger = profile_ledger(self.ctx.state)
        ledger.saw(seen)
        now = utcnow()
        if ledger.due(timedelta(hours=self.settings.profile_reconcile_hours), now):
            ledger.reconcile(self.live_profile_ids(), now)
        stones = list(ledger.tombstones(now))
        ledger.save(self.ctx.state)
        yield from stones

    def live_profile_ids(self) -> set[str]:
        """Every profile id Klaviyo lists now (a sparse fieldset keeps the pages small)."""
        query = {"page_size": 100, "fields_profile": ["created"]}
        pages = self._pages("profiles_read", self.client.api.Profiles.get_profiles, query)
        return {str(resource.get("id")) for resource in pages}

    def _without_our_properties(self, record: SourceRecord) -> SourceRecord:
        """Drop the custom properties this connector writes (our traits, sent by a Klaviyo
        destination): read back they would make every written profile look changed upstream."""
        traits = record.get("traits")
        props = traits.get("properties") if isinstance(traits, dict) else None
        ours = self.ctx.written_traits
        if not (ours and isinstance(props, dict) and ours & set(props)):
            return record
        kept = {k: v for k, v in props.items() if k not in ours}
        rest = {k: v for k, v in traits.items() if k != "properties"}  # type: ignore[union-attr]
        return {**record, "traits": {**rest, **({"properties": kept} if kept else {})}}

    # ---- events ---------------------------------------------------------------------------
    def metrics(self) -> dict[str, str]:
        """Metric id → name for the metrics we map (looked up by name, facts 3.1)."""
        found: dict[str, str] = {}
        pages = self._pages("metrics_read", self.client.api.Metrics.get_metrics, {})
        for resource in pages:
            name = (resource.get("attributes") or {}).get("name")
            if name in EVENT_TYPES_BY_METRIC:
                found[resource["id"]] = name
        return found

    def _events(self, since: str | None) -> Iterator[SourceRecord]:
        for metric_id, name in sorted(self.metrics().items(), key=lambda kv: kv[1]):
            flt = f'equals(metric_id,"{metric_id}")'
            if since is not None:
                flt += f",greater-or-equal(datetime,{_iso(since)})"
            query = {
                "filter": flt,
                "sort": "datetime",
                "page_size": self.settings.event_page_size,
                "include": ["profile"],
            }
            seen: set[str] = set()
            for resource, profile in self._event_pages(query):
                rid = str(resource.get("id"))
                if rid in seen:
                    continue
                seen.add(rid)
                yield safe_map_event(resource, name, profile)

    def _event_pages(
        self, query: dict[str, Any]
    ) -> Iterator[tuple[dict[str, Any], dict[str, Any] | None]]:
        cursor: str | None = None
        while True:
            kwargs = {**query, **({"page_cursor": cursor} if cursor else {})}
            doc = self.client.call(
                "events_read", partial(self.client.api.Events.get_events, **kwargs)
            )
            profiles = {
                inc["id"]: inc for inc in doc.get("included") or [] if inc.get("type") == "profile"
            }
            for resource in doc.get("data") or []:
                rel = ((resource.get("relationships") or {}).get("profile") or {}).get("data")
                yield resource, profiles.get((rel or {}).get("id", ""))
            cursor = next_cursor(doc)
            if cursor is None:
                return

    def _pages(
        self,
        policy: str,
        fetch: Callable[..., Any],
        query: dict[str, Any],
    ) -> Iterator[dict[str, Any]]:
        cursor: str | None = None
        while True:
            kwargs = {**query, **({"page_cursor": cursor} if cursor else {})}
            doc = self.client.call(policy, partial(fetch, **kwargs))
            yield from doc.get("data") or []
            cursor = next_cursor(doc)
            if cursor is None:
                return
