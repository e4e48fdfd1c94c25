"""Tombstones: source records their source says are gone (the contract in
``connector.schema.records``).

A tombstone is kept per (source, source_id), dated by its ``deleted_at`` or, lacking one, by
when it was received. A later live record of the same key revives it unless the live record's
``updated_at`` is before that date: a re-read of an old version (a file read again whole, a
cursor's overlap window) is not a restore. Within one batch records apply in order.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime

import duckdb

from connector.schema.records import ProfileRecord

__all__ = ["split_tombstones", "store_tombstones"]

Key = tuple[str, str]


def _naive(ts: datetime | None) -> datetime | None:
    return ts.replace(tzinfo=None) if ts is not None else None


def _stale(live: ProfileRecord, deleted_at: datetime | None) -> bool:
    updated = _naive(live.updated_at)
    return updated is not None and deleted_at is not None and updated < deleted_at


def split_tombstones(
    records: Sequence[ProfileRecord], received: datetime
) -> tuple[list[ProfileRecord], list[ProfileRecord], list[ProfileRecord]]:
    """(live records to store, tombstones to keep, live records that may revive a tombstone).

    Undated tombstones are dated ``received``.
    """
    last: dict[Key, ProfileRecord] = {}
    for rec in records:
        key = (rec.source, rec.source_id)
        r = replace(rec, deleted_at=received) if rec.tombstone and not rec.deleted_at else rec
        prev = last.get(key)
        if not r.tombstone and prev is not None and prev.tombstone:
            if _stale(r, _naive(prev.deleted_at)):
                continue
        last[key] = r
    live = [r for r in records if not r.tombstone]
    gone = [r for r in last.values() if r.tombstone]
    revive = [r for r in last.values() if not r.tombstone]
    return live, gone, revive


def store_tombstones(
    con: duckdb.DuckDBPyConnection,
    gone: Sequence[ProfileRecord],
    revive: Sequence[ProfileRecord],
    run_id: str,
) -> None:
    """Revive the tombstones live records answer, then keep the new tombstones."""
    if revive:
        stored = {
            (src, sid): at
            for src, sid, at in con.execute(
                "SELECT source, source_id, deleted_at FROM tombstones"
                " WHERE source || chr(31) || source_id IN (SELECT unnest(?))",
                [[f"{r.source}\x1f{r.source_id}" for r in revive]],
            ).fetchall()
        }
        back = [
            [r.source, r.source_id]
            for r in revive
            if (r.source, r.source_id) in stored and not _stale(r, stored[(r.source, r.source_id)])
        ]
        if back:
            con.executemany("DELETE FROM tombstones WHERE source = ? AND source_id = ?", back)
    if gone:
        con.executemany(
            "INSERT OR REPLACE INTO tombstones VALUES (?, ?, ?, ?, ?)",
            [[r.source, r.source_id, _naive(r.deleted_at), r.merged_into, run_id] for r in gone],
        )
