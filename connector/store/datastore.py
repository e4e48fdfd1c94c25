"""The data store: one embedded DuckDB file with profiles, identities, events and model output.

Writes are set-based (Arrow/pandas frames into ``INSERT OR REPLACE``) so re-reading a cursor's
overlap deduplicates by primary key instead of duplicating rows.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import pyarrow as pa
from filelock import FileLock

from connector.schema.records import EventRecord, ProfileRecord
from connector.store.events_in import event_rows, upsert_event_table
from connector.store.identity_sig import identity_keys, identity_signature
from connector.store.memory import STORE_SHARE, share_of
from connector.store.profiles_in import (
    STORED_SCHEMA,
    drop_reinstated,
    keep_superseded,
    merge_partial,
    profile_rows,
    resign,
    stored_consent,
    upsert_profile_table,
    upsert_rows,
)
from connector.store.tables import DDL
from connector.store.tombstones import split_tombstones, store_tombstones

__all__ = ["DataStore", "first_row", "identity_keys", "identity_signature"]


def first_row(cursor: duckdb.DuckDBPyConnection) -> Any:
    """The first row or None, draining the result (DuckDB 2 keeps an unfinished one open)."""
    rows = cursor.fetchall()
    return rows[0] if rows else None


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
    def __init__(self, path: Path | str, memory_limit: str | None = None) -> None:
        """``memory_limit`` bounds DuckDB's buffers (it spills to ``<dir>/tmp/store`` beyond);
        without it DuckDB takes up to 80 % of the machine's memory, which a connector sharing
        a host must not."""
        self.path = Path(path)
        self.memory_limit = memory_limit
        if _missing(self.path):
            _create(self.path)
        self.con = self._connect()
        for ddl in DDL:
            self.con.execute(ddl)

    def _connect(self) -> duckdb.DuckDBPyConnection:
        con = duckdb.connect(str(self.path))
        if self.memory_limit is not None:
            spill = self.path.parent / "tmp" / "store"
            spill.mkdir(parents=True, exist_ok=True)
            con.execute("SET memory_limit = ?", [self.memory_limit])
            con.execute("SET temp_directory = ?", [spill.as_posix()])
        return con

    def close(self) -> None:
        self.con.close()

    @contextmanager
    def lend_memory(self) -> Iterator[None]:
        """Keep only ``STORE_SHARE`` of the memory limit while the planner, or Python's own
        objects, use the rest (``connector.store.memory``); the whole limit again afterwards."""
        if self.memory_limit is None:
            yield
            return
        self.con.execute("SET memory_limit = ?", [share_of(self.memory_limit, STORE_SHARE)])
        try:
            yield
        finally:
            self.con.execute("SET memory_limit = ?", [self.memory_limit])

    @contextmanager
    def deferred_checkpoints(self) -> Iterator[None]:
        """Write many chunks with one checkpoint at the end instead of one every few chunks.

        DuckDB checkpoints when its write-ahead log passes a threshold (16 MiB), and each
        checkpoint costs more as the tables grow (the events table's key index is written
        again): a pull of a million events spent most of its storing time there, growing with
        the square of the data. Committed chunks are in the log either way, so a crash loses
        nothing; the next open replays the log.
        """
        row = first_row(self.con.execute("SELECT current_setting('checkpoint_threshold')"))
        self.con.execute("SET checkpoint_threshold = '64GiB'")
        try:
            yield
        finally:
            self.con.execute("SET checkpoint_threshold = ?", [str(row[0]) if row else "16MiB"])
        self.con.execute("CHECKPOINT")

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
        self.con = self._connect()

    # ---- ingest ---------------------------------------------------------------------------
    def upsert_profile_records(self, records: Sequence[ProfileRecord], run_id: str) -> int:
        """Store (merge) profile records and tombstones; return how many records were new."""
        live, gone, revive = split_tombstones(records, datetime.now(UTC))
        new = self._upsert_live(live, run_id) if live else 0
        store_tombstones(self.con, gone, revive, run_id)
        self._stand_in(gone, run_id)
        return new

    def _stand_in(self, gone: Sequence[ProfileRecord], run_id: str) -> None:
        """A tombstone of a record never stored alive, naming its ids, stands in for it in the
        identity graph (a row with identifiers only), so what names it joins a gone person."""
        rows = [
            [r.source, r.source_id, json.dumps(r.ids, sort_keys=True),
             identity_signature(None, None, r.ids), run_id]
            for r in gone if r.ids
        ]  # fmt: skip
        if rows:
            self.con.executemany(
                """INSERT INTO profile_records (source, source_id, ids, id_sig, run_id)
                   VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING""",
                rows,
            )

    def _upsert_live(self, records: Sequence[ProfileRecord], run_id: str) -> int:
        """Store live records, one row per key (``merge_partial``). A stored key's versions
        were folded over its stored consent, so their consent is taken as it is (``folded``)."""
        rows = [row | {"run_id": run_id} for row in profile_rows(records)]
        superseded: list[tuple[str, str, str]] = []
        stored = stored_consent(self.con, rows)
        merged = merge_partial(rows, superseded, stored)
        frame = pa.Table.from_pylist(list(merged.values()), STORED_SCHEMA)
        self.con.register("incoming_profiles", frame)
        try:
            known = first_row(
                self.con.execute(
                    "SELECT count(*) FROM incoming_profiles JOIN profile_records"
                    " USING (source, source_id)"
                )
            )
            keep_superseded(self.con, superseded, run_id)
            once = [r for k, r in merged.items() if k not in stored]
            folded = [r for k, r in merged.items() if k in stored]
            upsert_rows(
                self.con,
                pa.Table.from_pylist(once, STORED_SCHEMA),
                pa.Table.from_pylist(folded, STORED_SCHEMA),
            )
            drop_reinstated(self.con)
            self._refresh_signatures()
        finally:
            self.con.unregister("incoming_profiles")
        return int(frame.num_rows) - int(known[0] if known else 0)

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
        resign(self.con, stale)

    def upsert_events(self, records: Sequence[EventRecord], run_id: str) -> int:
        """Store events; return how many were new (the rest were overlap re-reads)."""
        return upsert_event_table(self.con, event_rows(records), run_id)

    def upsert_event_table(self, rows: pa.Table, run_id: str) -> int:
        """Store validated events given as an ``EVENT_SCHEMA`` table (the bulk pull)."""
        return upsert_event_table(self.con, rows, run_id)

    def upsert_profile_table(self, rows: pa.Table, run_id: str) -> int:
        """Store validated live profile rows given as a ``PROFILE_SCHEMA`` table (the bulk
        pull), merged exactly as ``upsert_profile_records`` merges records."""
        return upsert_profile_table(self.con, rows, run_id)

    # ---- reads used by stages and the CLI ---------------------------------------------------
    def count(self, table: str) -> int:
        row = first_row(self.con.execute(f"SELECT count(*) FROM {table}"))
        return int(row[0]) if row else 0

    def query(self, sql: str, params: Sequence[Any] | None = None) -> pd.DataFrame:
        return self.con.execute(sql, params or []).df()
