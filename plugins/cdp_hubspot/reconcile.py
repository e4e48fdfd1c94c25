"""Contacts deleted for good: a periodic reconciliation of contact ids.

A contact deleted under GDPR (``POST /crm/v3/objects/contacts/gdpr-delete``, or from the
record page's "permanently delete") is gone from every listing, ``archived=true`` included
(HubSpot knowledge base "Perform a GDPR delete in HubSpot"), and archived records are purged
for good after 90 days; nothing reports either. So the source keeps the ids it has read alive
(``connector.sdk.KnownIds``); every ``contact_reconcile_hours`` it lists every live contact id
(the list endpoint pages by id, 100 per call) and reads each known id missing from it once: an
id HubSpot still reads as another record was merged into that record (a merged-away id
"reads as the merged record", HubSpot "Merge records"), an id it answers 404 for is deleted.
Archives and merges the scans report are forgotten first, so only silent deletions are left.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import timedelta
from typing import Any

from cdp_hubspot.client import HubSpotApiError, HubSpotClient
from cdp_hubspot.limits import OBJECT_PAGE_MAX
from connector.sdk import KeyValueState, KnownIds, SourceRecord, utcnow

__all__ = ["silently_gone"]

_KEY = "contacts.known"


def live_contact_ids(client: HubSpotClient) -> set[str]:
    """Every live contact id, from the list endpoint (no properties: the smallest pages)."""
    api = client.sdk.crm.contacts.basic_api
    out: set[str] = set()
    after: str | None = None
    while True:
        kwargs: dict[str, Any] = {"limit": OBJECT_PAGE_MAX, "properties": [], **client.timeout}
        if after is not None:
            kwargs["after"] = after

        def fetch(kw: dict[str, Any] = kwargs) -> Any:
            return api.get_page(**kw)

        page = client.call("contact ids", fetch)
        out.update(str(row.id) for row in page.results or [])
        nxt = page.paging.next.after if page.paging and page.paging.next else None
        if nxt in (None, ""):
            return out
        after = str(nxt)


def _reads_as(client: HubSpotClient, rid: str) -> str | None:
    """The id HubSpot reads ``rid`` as now, or None when it is gone for good (404)."""
    api = client.sdk.crm.contacts.basic_api
    try:
        row = client.call("contact read", lambda: api.get_by_id(contact_id=rid, **client.timeout))
    except HubSpotApiError as exc:
        if exc.status == 404:
            return None
        raise
    return str(row.id)


def silently_gone(
    client: HubSpotClient,
    state: KeyValueState,
    every: timedelta,
    *,
    seen: Iterable[str],
    reported: Iterable[str],
) -> Iterator[SourceRecord]:
    """Merges and deletions no scan reported, for the contacts this source has read alive
    (``seen`` this run; ``reported``: ids this run's scans already reported gone)."""
    known = KnownIds.load(state, _KEY)
    known.saw(seen)
    known.forget(reported)
    now = utcnow()
    merged: list[SourceRecord] = []
    if known.due(every, now):
        for rid in sorted(known.reconcile(live_contact_ids(client), now), key=int):
            into = _reads_as(client, rid)
            if into == rid:  # back between the listing and the read (restored)
                known.saw([rid])
            elif into is not None:
                merged.append({"source_id": rid, "merged_into": into, "ids": {"hubspot_id": rid}})
        known.forget(str(m["source_id"]) for m in merged)
    stones = [*merged, *known.tombstones(now, "hubspot_id")]
    known.save(state)
    yield from stones
