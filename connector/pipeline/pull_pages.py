"""Accept a chunk of pages (Arrow) from a source: events in bulk, every other row as a record.

An event page is split by ``bulk_events``: rows it accepts stay Arrow all the way into the
store; the rest go through ``accept_chunk`` one by one (same reasons, same quarantine, same
references), and both meet again in stream order. Profile pages go the same way
(``pull_profiles``); event streams whose cursor is not ``occurred_at`` are taken record by
record.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pyarrow as pa

from connector.pipeline.accept import PullContext, accept_chunk
from connector.pipeline.bulk_events import validate_events
from connector.pipeline.pull_profiles import (
    ProfileChunk,
    accept_profile_page,
    bulk_profiles_for,
    runs,
)
from connector.plugin.spec import Stream
from connector.schema.flat import page_records
from connector.schema.normalise import to_iso
from connector.schema.records import EventRecord
from connector.store.events_in import EVENT_SCHEMA, event_rows

__all__ = ["accept_page", "bulk_events_for"]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def bulk_events_for(stream: Stream) -> bool:
    """True when a page of this stream is validated in bulk (its mark is ``occurred_at``)."""
    if stream.kind != "events":
        return False
    return stream.cursor == "none" or (
        stream.cursor == "timestamp" and stream.cursor_field == "occurred_at"
    )


def _suppressed(p: PullContext, rows: pa.Table) -> np.ndarray:
    """Which accepted rows name a suppressed person (checked once per identity set)."""
    check = p.suppressed
    if check is None or rows.num_rows == 0:
        return np.zeros(rows.num_rows, dtype=bool)
    verdict: dict[str, bool] = {}
    cols = (rows["id_sig"], rows["email"], rows["phone"], rows["ids"])
    flags = []
    for sig, email, phone, ids in zip(*(c.to_pylist() for c in cols), strict=True):
        if sig not in verdict:
            rec = EventRecord("", "", "", _EPOCH, email, phone, json.loads(ids), None, None, {})
            verdict[sig] = bool(check(rec))
        flags.append(verdict[sig])
    return np.array(flags, dtype=bool)


def accept_page(
    p: PullContext, stream: Stream, page: pa.Table, n: int, stats: dict[str, Any], mark: Any
) -> tuple[pa.Table | ProfileChunk | list[Any], Any]:
    """Validate one chunk of pages (rows ``n+1`` … of the stream): what to store and the mark.

    Returns an ``EVENT_SCHEMA`` table for an event stream in bulk, a ``ProfileChunk`` for a
    profile stream in bulk, else the validated records.
    """
    key = "source_id" if stream.kind == "profiles" else "source_event_id"
    if bulk_profiles_for(stream):
        return accept_profile_page(p, stream, page, n, stats, mark)
    if not bulk_events_for(stream):
        return accept_chunk(p, stream, page_records(page, key), n, stats, mark)
    bulk = validate_events(
        page, source=p.name, region=p.ws.config.identity.default_region, horizon=p.horizon
    )
    fast = bulk.accepted
    gone = _suppressed(p, fast)
    if gone.any():
        stats["suppressed"] += int(gone.sum())
        fast = fast.filter(pa.array(~gone))
    if bulk.latest is not None and stream.cursor == "timestamp":
        latest = to_iso(bulk.latest.replace(tzinfo=UTC))
        if mark is None or latest > mark:
            mark = latest
    if len(bulk.exact) == 0:
        return fast.drop_columns(["idx"]), mark
    tables = [fast]
    for start, stop in runs(bulk.exact):
        # each run of consecutive exact rows keeps its stream position for its references
        raws = page_records(page.slice(start, stop - start), key)
        kept: list[int] = []
        good, mark = accept_chunk(p, stream, raws, n + start, stats, mark, kept)
        idx = pa.array([start + i for i in kept], pa.int64())
        tables.append(event_rows(good).append_column("idx", idx))
        p.quarantine.flush()  # a run's quarantined records leave memory, as a record chunk's do
    merged = pa.concat_tables(tables).sort_by("idx")
    return merged.select(EVENT_SCHEMA.names), mark
