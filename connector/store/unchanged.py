"""Which incoming profile records say nothing new: our own writes coming back as "modified".

A platform we both read and write (HubSpot, Klaviyo) moves a record's modification date when we
write our traits to it, so the next incremental pull reads it again. Sources leave out the
properties we write (``PluginContext.written_traits``); what is left is compared here with the
stored record, field by field, the way the store merges records (an absent value says nothing,
traits are merged key by key, a consent statement with the same status is the same statement).
A record that would change nothing is an echo: the pull skips it, so it neither counts as a
change nor moves the record's dates (a re-dated opt-out must not outrank a later grant).

A record is judged against the store as its key's earlier records left it, whatever chunk they
came in: a chunk is stored in rounds (``connector.store.rounds``), so a key's old version said
again after a newer one is stored (the stream's last version wins) rather than judged against
the store as it was before the chunk.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa

from connector.schema.records import ProfileRecord

__all__ = ["unchanged_profiles", "unchanged_rows"]

_FIELDS = ("email", "phone", "first_name", "last_name", "city", "postal_code", "country")
_CHANNELS = ("email", "sms", "ads")


def _same_time(new: datetime | None, old: Any) -> bool:
    if new is None:
        return True
    return old is not None and pd.Timestamp(new.replace(tzinfo=None)) == pd.Timestamp(old)


def _says_nothing_new(rec: ProfileRecord, row: dict[str, Any]) -> bool:
    if getattr(rec, "deleted", False) or getattr(rec, "merged_into", None):
        return False  # a tombstone always says something
    if any(getattr(rec, f) is not None and getattr(rec, f) != row[f] for f in _FIELDS):
        return False
    if rec.ids and rec.ids != json.loads(row["ids"] or "{}"):
        return False
    if not _same_time(rec.created_at, row["created_at"]):
        return False
    for channel in _CHANNELS:
        status = rec.consent.get(channel, (None, None))[0]
        if status and str(status) != row[f"consent_{channel}"]:
            return False
    stored = json.loads(row["traits"] or "{}")
    incoming = json.loads(json.dumps(rec.traits, sort_keys=True, default=str))
    return all(k in stored and stored[k] == v for k, v in incoming.items())


def unchanged_profiles(
    con: duckdb.DuckDBPyConnection, records: Sequence[ProfileRecord]
) -> set[int]:
    """Indexes of ``records`` whose stored version already says everything they say."""
    if not records:
        return set()
    keys = pd.DataFrame(
        {"source": [r.source for r in records], "source_id": [r.source_id for r in records]}
    )
    con.register("incoming_keys", keys)
    try:
        frame = con.execute(
            """SELECT p.* FROM profile_records p JOIN incoming_keys k USING (source, source_id)
               WHERE NOT EXISTS (SELECT 1 FROM tombstones t
                   WHERE t.source = p.source AND t.source_id = p.source_id)"""
        ).df()  # a live record of a tombstoned one may be a restore: the store decides
    finally:
        con.unregister("incoming_keys")
    stored: dict[tuple[str, str], dict[str, Any]] = {
        (str(r["source"]), str(r["source_id"])): {
            str(c): (None if _isna(v) else v) for c, v in r.items()
        }
        for r in frame.to_dict("records")
    }
    return {
        i
        for i, rec in enumerate(records)
        if (row := stored.get((rec.source, rec.source_id))) is not None
        and _says_nothing_new(rec, row)
    }


def _isna(value: Any) -> bool:
    return value is None or (not isinstance(value, str | dict | list) and bool(pd.isna(value)))


def unchanged_rows(con: duckdb.DuckDBPyConnection, rows: pa.Table) -> np.ndarray:
    """Which live ``PROFILE_SCHEMA`` rows say nothing their stored version does not say:
    ``unchanged_profiles`` in SQL (traits, when a row has any, compared in Python)."""
    n = rows.num_rows
    same = np.zeros(n, dtype=bool)
    if n == 0:
        return same
    cols = ["source", "source_id", "ids", "created_at", "traits", *_FIELDS]
    cols += [f"consent_{ch}" for ch in _CHANNELS]
    con.register("incoming_check", rows.select(cols).append_column("rn", pa.array(range(n))))
    try:
        found = con.execute(
            f"""SELECT i.rn, i.traits, p.traits FROM incoming_check i
                JOIN profile_records p USING (source, source_id)
                WHERE NOT EXISTS (SELECT 1 FROM tombstones t
                    WHERE t.source = i.source AND t.source_id = i.source_id)
                  AND (i.ids = '{{}}' OR i.ids = p.ids)
                  AND (i.created_at IS NULL OR i.created_at = p.created_at)
                  AND {" AND ".join(f"(i.{f} IS NULL OR i.{f} = p.{f})" for f in _FIELDS)}
                  AND {
                " AND ".join(
                    f"(i.consent_{c} IS NULL OR i.consent_{c} = p.consent_{c})" for c in _CHANNELS
                )
            }"""
        ).fetchall()
    finally:
        con.unregister("incoming_check")
    for rn, new, old in found:
        if new == "{}" or _traits_known(new, old):
            same[rn] = True
    return same


def _traits_known(new: str, old: str | None) -> bool:
    stored = json.loads(old or "{}")
    return all(k in stored and stored[k] == v for k, v in json.loads(new).items())
