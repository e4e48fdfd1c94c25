"""The data store: one embedded DuckDB file with profiles, identities, events and model output.

Writes are set-based (Arrow/pandas frames into ``INSERT OR REPLACE``) so re-reading a cursor's
overlap deduplicates by primary key instead of duplicating rows.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Sequence
from contextlib import suppress
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
from filelock import FileLock

from connector.schema.consent import beats_sql, rank
from connector.schema.records import EventRecord, ProfileRecord
from connector.store.tables import DDL
from connector.store.tombstones import split_tombstones, store_tombstones

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


_TS_COLUMNS = ("created_at", "updated_at", "consent_email_at", "consent_sms_at", "consent_ads_at")
_CHANNELS = ("email", "sms", "ads")
_CONSENT_COLUMNS = frozenset(c for ch in _CHANNELS for c in (f"consent_{ch}", f"consent_{ch}_at"))


def _fold_consent(old: dict[str, Any], new: dict[str, Any], out: dict[str, Any]) -> None:
    """Per channel, keep whichever statement prevails (``connector.schema.consent``).

    Status and timestamp travel as a pair: taking a new status with an old timestamp would
    date an undated denial and let a later grant elsewhere beat it.
    """
    for ch in _CHANNELS:
        s, at = f"consent_{ch}", f"consent_{ch}_at"
        keep = old if rank(old.get(s), old.get(at)) > rank(new.get(s), new.get(at)) else new
        out[s], out[at] = keep.get(s), keep.get(at)


def _consent_update(column: str) -> str:
    """The ON CONFLICT assignment of one consent column: the prevailing statement's value."""
    ch = column.removeprefix("consent_").removesuffix("_at")
    s, at = f"consent_{ch}", f"consent_{ch}_at"
    beats = beats_sql(
        f"excluded.{s}", f"excluded.{at}", f"profile_records.{s}", f"profile_records.{at}"
    )
    return f"{column} = CASE WHEN {beats} THEN excluded.{column} ELSE profile_records.{column} END"


def _merge_partial(
    rows: list[dict[str, Any]], superseded: list[tuple[str, str, str]]
) -> dict[tuple[str, str], dict[str, Any]]:
    """Fold records of one key in a batch: later non-null values win, traits merge.

    Sources such as Segment send partial records (an identify call carries only the traits it
    sets), so a record never erases what an earlier one said; the same rule applies against
    what is already stored (``coalesce`` in the upsert). Consent folds by its own precedence.
    An email or phone replaced by a later version goes to ``superseded`` as an identity key.
    """
    merged: dict[tuple[str, str], dict[str, Any]] = {}
    for row in rows:
        key = (row["source"], row["source_id"])
        old = merged.get(key)
        if old is None:
            merged[key] = row
            continue
        for kind in ("email", "phone"):
            if old[kind] and row[kind] and old[kind] != row[kind]:
                superseded.append((*key, f"{kind}:{old[kind]}"))
        traits = {**json.loads(old["traits"]), **json.loads(row["traits"])}
        merged[key] = {k: (v if v is not None else old.get(k)) for k, v in row.items()}
        merged[key]["traits"] = json.dumps(traits, sort_keys=True)
        _fold_consent(old, row, merged[key])
    return merged


def _naive(ts: datetime | None) -> datetime | None:
    return ts.replace(tzinfo=None) if ts is not None else None


def _missing(path: Path) -> bool:
    # An empty file holds no data: it is what a run killed while creating the store with an
    # earlier version left behind, so it is created again rather than refused.
    return not path.exists() or path.stat().st_size == 0


def _create(path: Path) -> None:
    """Create the database file whole or not at all, once even when processes race.

    DuckDB writes a new file's header after creating it, so a run killed in between leaves an
    empty file that no later run can open. The file is built under a temporary name and renamed
    into place, so a killed run leaves either nothing or a valid, empty store. Commands that
    read the store (inspect, report, models) do not take the run lock, so creation holds a lock
    of its own and checks again under it: a second process never replaces a live store.
    """
    with FileLock(str(path.with_name(path.name + ".create.lock")), mode=0o600):
        if not _missing(path):
            return
        for stale in path.parent.glob(f"{path.name}.*.creating*"):  # from killed creators
            stale.unlink(missing_ok=True)
        path.with_name(path.name + ".wal").unlink(missing_ok=True)
        tmp = path.with_name(f"{path.name}.{os.getpid()}.creating")
        con = duckdb.connect(str(tmp))
        try:
            os.chmod(tmp, 0o600)
            for ddl in DDL:
                con.execute(ddl)
            con.execute("CHECKPOINT")
        finally:
            con.close()
        os.replace(tmp, path)
        with suppress(OSError):  # some filesystems cannot fsync a directory; the rename stands
            fd = os.open(path.parent, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)


class DataStore:
    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        if _missing(self.path):
            _create(self.path)
        self.con = duckdb.connect(str(self.path))
        for ddl in DDL:
            self.con.execute(ddl)

    def close(self) -> None:
        self.con.close()

    def compact(self, copied: Callable[[], None] | None = None) -> None:
        """Rewrite the file with live rows only: DuckDB leaves deleted values in freed blocks,
        so after an erasure the store is copied into a new file that replaces it atomically
        (a kill leaves either file whole; a stale copy is removed on the next compaction).
        ``copied`` runs between the copy and the swap (crash tests name that point)."""
        tmp = self.path.with_name(self.path.name + ".compact")
        tmp.unlink(missing_ok=True)
        name = first_row(self.con.execute("SELECT current_database()"))[0]
        self.con.execute("CHECKPOINT")
        self.con.execute("ATTACH ? AS compact_copy", [str(tmp)])
        try:
            self.con.execute(f'COPY FROM DATABASE "{name}" TO compact_copy')
        finally:
            self.con.execute("DETACH compact_copy")
        if copied is not None:
            copied()
        self.con.close()
        os.chmod(tmp, 0o600)
        os.replace(tmp, self.path)
        self.con = duckdb.connect(str(self.path))

    # ---- ingest ---------------------------------------------------------------------------
    def upsert_profile_records(self, records: Sequence[ProfileRecord], run_id: str) -> int:
        """Store (merge) profile records and tombstones; return how many records were new."""
        live, gone, revive = split_tombstones(records, datetime.now(UTC))
        new = self._upsert_live(live, run_id) if live else 0
        store_tombstones(self.con, gone, revive, run_id)
        return new

    def _upsert_live(self, records: Sequence[ProfileRecord], run_id: str) -> int:
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
        superseded: list[tuple[str, str, str]] = []
        frame = pd.DataFrame(list(_merge_partial(rows, superseded).values()))
        for col in _TS_COLUMNS:
            frame[col] = pd.to_datetime(frame[col])
        cols = list(frame.columns)
        keep = [c for c in cols if c not in ("source", "source_id")]
        updates = ", ".join(
            f"{c} = json_merge_patch(profile_records.{c}, excluded.{c})"
            if c == "traits"
            else _consent_update(c)
            if c in _CONSENT_COLUMNS
            else f"{c} = coalesce(excluded.{c}, profile_records.{c})"
            for c in keep
        )
        self.con.register("incoming_profiles", frame)
        try:
            known = first_row(
                self.con.execute(
                    "SELECT count(*) FROM incoming_profiles JOIN profile_records"
                    " USING (source, source_id)"
                )
            )
            self._keep_superseded(superseded, run_id)
            self.con.execute(
                f"INSERT INTO profile_records ({', '.join(cols)}) "
                f"SELECT {', '.join(cols)} FROM incoming_profiles "
                f"ON CONFLICT (source, source_id) DO UPDATE SET {updates}"
            )
            self._refresh_signatures()
        finally:
            self.con.unregister("incoming_profiles")
        return len(frame) - int(known[0] if known else 0)

    def _keep_superseded(self, in_batch: list[tuple[str, str, str]], run_id: str) -> None:
        """Remember the stored emails and phones the incoming versions replace."""
        if in_batch:
            self.con.executemany(
                "INSERT OR IGNORE INTO superseded_ids VALUES (?, ?, ?, ?)",
                [[*k, run_id] for k in in_batch],
            )
        for kind in ("email", "phone"):
            self.con.execute(
                f"""INSERT OR IGNORE INTO superseded_ids
                    SELECT p.source, p.source_id, '{kind}:' || p.{kind}, ?
                    FROM profile_records p JOIN incoming_profiles i USING (source, source_id)
                    WHERE i.{kind} IS NOT NULL AND p.{kind} IS NOT NULL AND i.{kind} <> p.{kind}""",
                [run_id],
            )

    def _refresh_signatures(self) -> None:
        """A merged record's identifiers may differ from either input: re-sign those rows."""
        rows = self.con.execute(
            """SELECT p.source, p.source_id, p.email, p.phone, p.ids, p.id_sig
               FROM profile_records p JOIN incoming_profiles i USING (source, source_id)"""
        ).fetchall()
        stale = [
            (sig, src, sid)
            for src, sid, email, phone, ids, old in rows
            if (sig := identity_signature(email, phone, json.loads(ids or "{}"))) != old
        ]
        if stale:
            self.con.executemany(
                "UPDATE profile_records SET id_sig = ? WHERE source = ? AND source_id = ?", stale
            )

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
                "occurred_at": pd.to_datetime(
                    [r.occurred_at.replace(tzinfo=None) for r in records]
                ),
                "email": [r.email for r in records],
                "phone": [r.phone for r in records],
                "ids": [json.dumps(r.ids, sort_keys=True) if r.ids else "{}" for r in records],
                "id_sig": [identity_signature(r.email, r.phone, r.ids) for r in records],
                "revenue": pd.array([r.revenue for r in records], dtype="Float64"),
                "currency": [r.currency for r in records],
                "properties": [
                    json.dumps(r.properties, sort_keys=True, default=str) if r.properties else "{}"
                    for r in records
                ],
                "run_id": run_id,
            }
        )
        # a stored event read again is attached to its profile anew, so unify sees it changed
        frame["profile_id"] = pd.Series([None] * len(frame), dtype=object)
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
