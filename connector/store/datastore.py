"""The data store: one embedded DuckDB file with profiles, identities, events and model output.

Writes are set-based (Arrow/pandas frames into ``INSERT OR REPLACE``) so re-reading a cursor's
overlap deduplicates by primary key instead of duplicating rows.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

from connector.schema.records import EventRecord, ProfileRecord
from connector.store.tables import DDL

__all__ = ["DataStore", "first_row", "identity_keys", "identity_signature"]


def first_row(cursor: duckdb.DuckDBPyConnection) -> Any:
    """The first row or None, draining the result (DuckDB 2 keeps an unfinished one open)."""
    rows = cursor.fetchall()
    return rows[0] if rows else None


def identity_keys(email: str | None, phone: str | None, ids: dict[str, str]) -> list[str]:
    keys = [f"email:{email}"] if email else []
    if phone:
        keys.append(f"phone:{phone}")
    keys.extend(f"{kind}:{value}" for kind, value in sorted(ids.items()))
    return keys


def identity_signature(email: str | None, phone: str | None, ids: dict[str, str]) -> str:
    text = "\x1f".join(identity_keys(email, phone, ids))
    return hashlib.blake2b(text.encode(), digest_size=12).hexdigest()


def _naive(ts: datetime | None) -> datetime | None:
    return ts.replace(tzinfo=None) if ts is not None else None


class DataStore:
    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        new = not self.path.exists()
        self.con = duckdb.connect(str(self.path))
        if new:
            os.chmod(self.path, 0o600)
        for ddl in DDL:
            self.con.execute(ddl)

    def close(self) -> None:
        self.con.close()

    def checkpoint(self) -> None:
        self.con.execute("CHECKPOINT")

    # ---- ingest ---------------------------------------------------------------------------
    def upsert_profile_records(self, records: Sequence[ProfileRecord], run_id: str) -> int:
        if not records:
            return 0
        rows: list[dict[str, Any]] = []
        for r in records:
            row: dict[str, Any] = {
                "source": r.source,
                "source_id": r.source_id,
                "email": r.email,
                "phone": r.phone,
                "ids": json.dumps(r.ids, sort_keys=True),
                "id_sig": identity_signature(r.email, r.phone, r.ids),
                "first_name": r.first_name,
                "last_name": r.last_name,
                "city": r.city,
                "postal_code": r.postal_code,
                "country": r.country,
                "created_at": _naive(r.created_at),
                "updated_at": _naive(r.updated_at),
                "traits": json.dumps(r.traits, sort_keys=True, default=str),
                "run_id": run_id,
            }
            for channel in ("email", "sms", "ads"):
                status, at = r.consent.get(channel, (None, None))
                row[f"consent_{channel}"] = str(status) if status else None
                row[f"consent_{channel}_at"] = _naive(at)
            rows.append(row)
        frame = pd.DataFrame(rows)
        for col in (
            "created_at",
            "updated_at",
            "consent_email_at",
            "consent_sms_at",
            "consent_ads_at",
        ):
            frame[col] = pd.to_datetime(frame[col])
        cols = ", ".join(frame.columns)
        self.con.register("incoming_profiles", frame)
        try:
            self.con.execute(
                f"INSERT OR REPLACE INTO profile_records ({cols}) "
                f"SELECT {cols} FROM incoming_profiles"
            )
        finally:
            self.con.unregister("incoming_profiles")
        return len(rows)

    def upsert_events(self, records: Sequence[EventRecord], run_id: str) -> int:
        """Store events; return how many were new (the rest were overlap re-reads)."""
        if not records:
            return 0
        frame = pd.DataFrame(
            {
                "event_id": [f"{r.source}:{r.source_event_id}" for r in records],
                "source": [r.source for r in records],
                "source_event_id": [r.source_event_id for r in records],
                "type": [r.type for r in records],
                "occurred_at": pd.to_datetime([_naive(r.occurred_at) for r in records]),
                "email": [r.email for r in records],
                "phone": [r.phone for r in records],
                "ids": [json.dumps(r.ids, sort_keys=True) for r in records],
                "id_sig": [identity_signature(r.email, r.phone, r.ids) for r in records],
                "revenue": pd.array([r.revenue for r in records], dtype="Float64"),
                "currency": [r.currency for r in records],
                "properties": [
                    json.dumps(r.properties, sort_keys=True, default=str) for r in records
                ],
                "run_id": run_id,
            }
        )
        frame = frame.drop_duplicates("event_id", keep="last")
        self.con.register("incoming_events", frame)
        try:
            known = first_row(
                self.con.execute(
                    "SELECT count(*) FROM incoming_events i JOIN events e USING (event_id)"
                )
            )
            cols = ", ".join(frame.columns)
            self.con.execute(
                f"INSERT OR REPLACE INTO events ({cols}) SELECT {cols} FROM incoming_events"
            )
        finally:
            self.con.unregister("incoming_events")
        return len(frame) - int(known[0] if known else 0)

    # ---- reads used by stages and the CLI ---------------------------------------------------
    def count(self, table: str) -> int:
        row = first_row(self.con.execute(f"SELECT count(*) FROM {table}"))
        return int(row[0]) if row else 0

    def query(self, sql: str, params: Sequence[Any] | None = None) -> pd.DataFrame:
        return self.con.execute(sql, params or []).df()
