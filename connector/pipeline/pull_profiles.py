"""Profile pages (Arrow) in bulk: validate, then store through the record path's merge.

A profile page is split by ``bulk_profiles``: live rows it accepts stay Arrow into the store;
the rest go through ``accept_chunk`` one by one (same reasons, same quarantine, same
references). Storing skips what the store already says (``unchanged``) and merges both kinds in
stream order (``upsert_profile_table``); a round (below) holding a tombstone is stored as records
(``upsert_profile_records``), whose order rules between tombstones and live records apply.

A chunk is stored in rounds (``connector.store.rounds``; one round when no key repeats), on
this path and the record path (``store_profile_records``): a record that could be judged
``unchanged`` is judged against the store its key's earlier records left, so a key's old version
said again after a newer one is stored and the stream's last version wins, wherever pages and
chunks end.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pyarrow as pa

from connector.pipeline.accept import PullContext, accept_chunk
from connector.pipeline.bulk_profiles import validate_profiles
from connector.pipeline.pull_reader import CHUNK
from connector.plugin.spec import Stream
from connector.schema.flat import page_records
from connector.schema.models import ConsentStatus
from connector.schema.normalise import to_iso
from connector.schema.records import ProfileRecord
from connector.store.profiles_in import profile_rows, profile_table
from connector.store.rounds import key_rounds
from connector.store.unchanged import unchanged_profiles, unchanged_rows
from connector.workspace import Workspace

__all__ = [
    "ProfileChunk",
    "accept_profile_page",
    "bulk_profiles_for",
    "records_of",
    "runs",
    "store_profile_chunk",
    "store_profile_records",
]

_CHANNELS = ("email", "sms", "ads")


@dataclass(frozen=True, slots=True)
class ProfileChunk:
    """Validated profiles of one chunk: rows accepted in bulk (``PROFILE_SCHEMA`` plus
    ``idx``) and records validated one by one, with their positions in the chunk."""

    rows: pa.Table
    records: list[ProfileRecord]
    positions: list[int]


def bulk_profiles_for(stream: Stream) -> bool:
    """True when a page of this stream is validated in bulk (its mark is ``updated_at``)."""
    if stream.kind != "profiles":
        return False
    return stream.cursor == "none" or (
        stream.cursor == "timestamp" and stream.cursor_field == "updated_at"
    )


def runs(rows: np.ndarray, longest: int = CHUNK) -> list[tuple[int, int]]:
    """Consecutive row positions as ``[start, stop)`` runs of at most ``longest`` rows (the
    record path's chunk: its records are Python objects, held one run at a time)."""
    if len(rows) == 0:
        return []
    breaks = np.flatnonzero(np.diff(rows) != 1)
    starts = np.concatenate([[rows[0]], rows[breaks + 1]])
    stops = np.concatenate([rows[breaks] + 1, [rows[-1] + 1]])
    out = []
    for start, stop in zip(starts.tolist(), stops.tolist(), strict=True):
        out += [(a, min(a + longest, stop)) for a in range(start, stop, longest)]
    return out


def _aware(at: datetime | None) -> datetime | None:
    return at.replace(tzinfo=UTC) if at is not None else None


def records_of(rows: pa.Table) -> list[ProfileRecord]:
    """``PROFILE_SCHEMA`` rows as the records they were validated from."""
    out = []
    for r in rows.to_pylist():
        consent = {
            ch: (ConsentStatus(r[f"consent_{ch}"]), _aware(r[f"consent_{ch}_at"]))
            for ch in _CHANNELS
            if r[f"consent_{ch}"]
        }
        out.append(
            ProfileRecord(
                source=r["source"],
                source_id=r["source_id"],
                email=r["email"],
                phone=r["phone"],
                ids=json.loads(r["ids"]),
                first_name=r["first_name"],
                last_name=r["last_name"],
                city=r["city"],
                postal_code=r["postal_code"],
                country=r["country"],
                created_at=_aware(r["created_at"]),
                updated_at=_aware(r["updated_at"]),
                consent=consent,
                traits=json.loads(r["traits"]),
            )
        )
    return out


def _suppressed(p: PullContext, rows: pa.Table) -> np.ndarray:
    """Which accepted rows name a suppressed person (or are a suppressed source record)."""
    check = p.suppressed
    if check is None or rows.num_rows == 0:
        return np.zeros(rows.num_rows, dtype=bool)
    return np.array([bool(check(rec)) for rec in records_of(rows)], dtype=bool)


def accept_profile_page(
    p: PullContext, stream: Stream, page: pa.Table, n: int, stats: dict[str, Any], mark: Any
) -> tuple[ProfileChunk, Any]:
    """Validate one chunk of profile pages (rows ``n+1`` … of the stream) and its mark."""
    bulk = validate_profiles(
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
    records: list[ProfileRecord] = []
    positions: list[int] = []
    for start, stop in runs(bulk.exact):
        # each run of consecutive exact rows keeps its stream position for its references
        raws = page_records(page.slice(start, stop - start), "source_id")
        kept: list[int] = []
        good, mark = accept_chunk(p, stream, raws, n + start, stats, mark, kept)
        records += good
        positions += [start + i for i in kept]
        p.quarantine.flush()  # a run's quarantined records leave memory, as a record chunk's do
    return ProfileChunk(fast, records, positions), mark


def _keys(rows: pa.Table, records: Sequence[ProfileRecord], positions: Sequence[int]) -> pa.Table:
    """The key and stream position of each row, then of each record."""
    recs = pa.table(
        {
            "source": pa.array([r.source for r in records], pa.string()),
            "source_id": pa.array([r.source_id for r in records], pa.string()),
            "pos": pa.array(positions, pa.int64()),
        }
    )
    if rows.num_rows == 0:
        return recs
    keys = rows.select(["source", "source_id", "idx"]).rename_columns(recs.column_names)
    return pa.concat_tables([keys.cast(recs.schema), recs])


def _versions(records: Sequence[ProfileRecord]) -> list[dict[str, Any]]:
    """Records' values as ``PROFILE_SCHEMA`` rows, tombstones flagged (``key_rounds``)."""
    rows = profile_rows(records)
    for row, rec in zip(rows, records, strict=True):
        row["tombstone"] = rec.tombstone
    return rows


def store_profile_chunk(ws: Workspace, chunk: ProfileChunk, run_id: str) -> tuple[int, int]:
    """Store a chunk; returns (records new to the store, unchanged records skipped).

    Stored in rounds (``key_rounds``): a key's later versions are judged against the store its
    earlier ones left, so the chunk stores what its records stored one at a time would.
    """
    n = chunk.rows.num_rows

    def versions(picked: list[int]) -> list[dict[str, Any]]:
        rows = chunk.rows.take(pa.array([i for i in picked if i < n], pa.int64())).to_pylist()
        recs = iter(_versions([chunk.records[i - n] for i in picked if i >= n]))
        it = iter(rows)
        return [next(it) if i < n else next(recs) for i in picked]

    new = skipped = 0
    keys = _keys(chunk.rows, chunk.records, chunk.positions)
    for picked in key_rounds(ws.data.con, keys, versions):
        rows, recs = picked[picked < n], (picked[picked >= n] - n).tolist()
        part = ProfileChunk(
            chunk.rows.take(pa.array(rows, pa.int64())),
            [chunk.records[i] for i in recs],
            [chunk.positions[i] for i in recs],
        )
        got = _store_round(ws, part, run_id)
        new, skipped = new + got[0], skipped + got[1]
    return new, skipped


def store_profile_records(
    ws: Workspace, records: Sequence[ProfileRecord], run_id: str
) -> tuple[int, int]:
    """Store a chunk of records (the record path); returns (new, unchanged skipped), judged
    and stored in rounds as ``store_profile_chunk`` does."""
    new = skipped = 0
    keys = _keys(pa.table({}), records, range(len(records)))

    def versions(picked: list[int]) -> list[dict[str, Any]]:
        return _versions([records[i] for i in picked])

    for picked in key_rounds(ws.data.con, keys, versions):
        part = [records[i] for i in picked.tolist()]
        same = unchanged_profiles(ws.data.con, part)
        fresh = [r for i, r in enumerate(part) if i not in same]
        new += ws.data.upsert_profile_records(fresh, run_id)
        skipped += len(same)
    return new, skipped


def _store_round(ws: Workspace, chunk: ProfileChunk, run_id: str) -> tuple[int, int]:
    """Store one round of ``store_profile_chunk``: only a key's first record in it can be
    unchanged (the others state something new), so all are judged against the store."""
    con = ws.data.con
    same = unchanged_profiles(con, chunk.records)
    kept = [
        (pos, rec)
        for k, (pos, rec) in enumerate(zip(chunk.positions, chunk.records, strict=True))
        if k not in same
    ]
    fresh = ~unchanged_rows(con, chunk.rows)
    rows = chunk.rows.filter(pa.array(fresh))
    skipped = len(same) + int((~fresh).sum())
    if any(rec.tombstone for _, rec in kept):
        bulk = zip(rows["idx"].to_pylist(), records_of(rows), strict=True)
        ordered = sorted([*kept, *bulk], key=lambda item: item[0])
        return ws.data.upsert_profile_records([rec for _, rec in ordered], run_id), skipped
    exact = profile_table([rec for _, rec in kept])
    exact = exact.append_column("idx", pa.array([pos for pos, _ in kept], pa.int64()))
    table = pa.concat_tables([rows, exact]).sort_by("idx")
    return ws.data.upsert_profile_table(table, run_id), skipped
