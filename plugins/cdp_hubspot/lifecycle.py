"""Records that leave HubSpot: archived (deleted) and merged contacts and deals, and deal stages.

Search never returns archived records; the list endpoint does with ``archived=true``, each with
``archivedAt`` (HubSpot CRM objects reference). It has no date filter, so each run pages through
the archived records and keeps those archived since the run's lower bound: a portal archives far
fewer records than it edits. A GDPR-deleted contact is gone for good and is not listed there.

A merge leaves one record whose ``hs_merged_object_ids`` lists every id merged into it (the
survivor may carry a new id, HubSpot knowledge base "Merge records"); each other id becomes a
``merged_into`` record (the tombstone contract in ``connector.schema.records``).

Deal pipelines and stage ids are per portal; a stage whose metadata says ``isClosed`` with
probability 1.0 is a closed-won stage, and ``hs_date_exited_<stageId>`` says a deal left it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from cdp_hubspot.client import HubSpotClient
from cdp_hubspot.limits import OBJECT_PAGE_MAX
from connector.sdk import SourceRecord

__all__ = ["MERGED", "archived_since", "merged_records", "won_stage_ids"]

MERGED = "hs_merged_object_ids"


def archived_since(
    client: HubSpotClient, object_type: str, since_ms: int, properties: list[str]
) -> Iterator[tuple[str, dict[str, Any], int]]:
    """(id, properties, archivedAt ms) of records archived at or after ``since_ms``."""
    api = getattr(client.sdk.crm, object_type).basic_api
    after: str | None = None
    while True:
        kwargs: dict[str, Any] = {"limit": OBJECT_PAGE_MAX, "archived": True, **client.timeout}
        if after is not None:
            kwargs["after"] = after

        def fetch(kw: dict[str, Any] = kwargs) -> Any:
            return api.get_page(properties=properties, **kw)

        page = client.call(f"archived {object_type}", fetch)
        for row in page.results or []:
            at = getattr(row, "archived_at", None)
            at_ms = int(at.timestamp() * 1000) if at is not None else None
            if at_ms is not None and at_ms >= since_ms:
                yield str(row.id), dict(row.properties or {}), at_ms
        nxt = page.paging.next.after if page.paging and page.paging.next else None
        if nxt in (None, ""):
            return
        after = str(nxt)


def merged_records(survivor: str, props: dict[str, Any]) -> Iterator[SourceRecord]:
    """One ``merged_into`` record per id merged into ``survivor`` (live or archived since).

    Each names its contact id, so a merged-away contact never read alive still stands for the
    person its deals name."""
    for raw in str(props.get(MERGED) or "").split(";"):
        old = raw.strip()
        if old and old != survivor:
            yield {"source_id": old, "merged_into": survivor, "ids": {"hubspot_id": old}}


def won_stage_ids(client: HubSpotClient) -> list[str]:
    """Closed-won stage ids of every deal pipeline of the portal, discovered now."""
    api = client.sdk.crm.pipelines.pipelines_api
    page = client.call("deal pipelines", lambda: api.get_all(object_type="deals", **client.timeout))
    won: list[str] = []
    for pipeline in page.results or []:
        for stage in pipeline.stages or []:
            meta = stage.metadata or {}
            try:
                probability = float(meta.get("probability") or 0)
            except ValueError:
                probability = 0.0
            if str(meta.get("isClosed")).lower() == "true" and probability >= 1.0:
                won.append(str(stage.id))
    return won
