"""Which incoming profile records say nothing new: our own writes coming back as "modified".

A platform we both read and write (HubSpot, Klaviyo) moves a record's modification date when we
write our traits to it, so the next incremental pull reads it again. Sources leave out the
properties we write (``PluginContext.written_traits``); what is left is compared here with the
stored record, field by field, the way the store merges records (an absent value says nothing,
traits are merged key by key, a consent statement with the same status is the same statement).
A record that would change nothing is an echo: the pull skips it, so it neither counts as a
change nor moves the record's dates (a re-dated opt-out must not outrank a later grant).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import duckdb
import pandas as pd

from connector.schema.records import ProfileRecord

__all__ = ["unchanged_profiles"]

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
