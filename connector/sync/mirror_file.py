"""The ledger's rows kept in the workspace between plans, refreshed by what changed since.

Each plan compares the desired state with a copy of the destination's ledger
(``connector.sync.mirror``). Copied whole from the state store every run, that read cost 11 s
of a million-profile plan after a run that changed 1 % of the profiles. ``KeptLedger`` keeps
the copy in a DuckDB file of the workspace (one table per destination) and, before each plan,
reads from the state store only the rows stamped after the tick the copy holds, and the keys
deleted since (``connector.state.ledger_clock``).

The state store stays the one record: the copy is only used when it provably matches it. It
is copied whole again when it is missing or unreadable, belongs to another state store or
epoch (an erasure changed rows without a tick), is ahead of the store (a store restored from a
backup), when more than a quarter of its rows changed, or when after the refresh its row count
is not the store's. Each refresh is one DuckDB transaction, so a crash mid-refresh leaves the
copy as it was, and the next plan refreshes it from there. Pending marks and commit-after-ack
are the ledger's own and unchanged: a pending row is a row like any other here.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pyarrow as pa

from connector.state.ledger import PENDING, Ledger, LedgerRow
from connector.state.ledger_arrow import COLUMNS
from connector.state.ledger_clock import Delta, LedgerMark

__all__ = ["LEDGER_COPY", "KeptLedger", "drop_copy"]

LEDGER_COPY = "ledger_copy.duckdb"  # in the workspace
COPY_MEMORY = "256MB"

log = logging.getLogger(__name__)

_MARKS = "CREATE TABLE IF NOT EXISTS marks (destination VARCHAR PRIMARY KEY, tbl VARCHAR, "
_MARKS += "epoch VARCHAR, seq BIGINT, n BIGINT)"
_SHAPE = ", ".join(f"{c} VARCHAR" for c in COLUMNS)


def drop_copy(workspace: Path) -> None:
    """Delete the workspace's copy (an erasure: the erased people's rows go from it now, not
    at the next plan; the next plan copies the ledger afresh)."""
    path = workspace / LEDGER_COPY
    for found in (path, path.with_name(path.name + ".wal")):
        found.unlink(missing_ok=True)


class KeptLedger:
    """What the planner reads a ledger through (``scan_arrow``), from the copy at ``path``."""

    def __init__(self, ledger: Ledger, path: Path, *, share: float = 0.25) -> None:
        self.ledger = ledger
        self.path = path
        self.share = share
        self.refreshed: str | None = None
        """How the last read found the copy: "kept", "refreshed" or "copied" (tests, logs)."""

    def scan(self, destination: str, chunk: int = 50_000) -> Iterator[list[LedgerRow]]:
        return self.ledger.scan(destination, chunk)

    def scan_arrow(self, destination: str, chunk: int = 200_000) -> Iterator[pa.Table]:
        """Every row of ``destination``, from the copy brought up to date first."""
        con = self._open()
        if con is None:
            self.refreshed = "store"
            yield from self.ledger.scan_arrow(destination, chunk)
            return
        try:
            table, mark = self._refresh(con, destination)
            if mark is not None:  # copied whole: each chunk handed on as it is stored
                self.refreshed = "copied"
                yield from self._copy(con, table, destination, mark)
                return
            reader = con.sql(f"SELECT {', '.join(COLUMNS)} FROM {table}").to_arrow_reader(chunk)
            for batch in reader:
                if batch.num_rows:
                    yield pa.Table.from_batches([batch])
        finally:
            con.close()

    def keep(self, destination: str) -> None:
        """Bring the copy of ``destination`` up to date now (after an apply), so the next plan
        finds it current. A first run's apply writes every row, so without this the run after
        it would copy the whole ledger while the user waits for a small change. A copy that
        cannot be opened (another process holds it) is left for the next plan."""
        con = self._open()
        if con is None:
            return
        try:
            table, mark = self._refresh(con, destination)
            if mark is not None:
                for _ in self._copy(con, table, destination, mark):
                    pass
        finally:
            con.close()

    def delivered_per_segment(self, destination: str) -> dict[str, int]:
        """``Ledger.delivered_per_segment`` counted in the copy when it is current or made so by
        what changed since (after a run's apply it is), else by the state store: the store's
        count scans every ledger row (seconds of each report at a million profiles). No copy
        yet: the store counts, and no copy file is started for the next plan to fill."""
        con = self._open() if self.path.exists() else None
        if con is None:
            return self.ledger.delivered_per_segment(destination)
        try:
            table, mark = self._refresh(con, destination)
            if mark is not None:  # a whole copy is the next plan's work, not the report's
                return self.ledger.delivered_per_segment(destination)
            rows = con.execute(
                f"""SELECT segment_id, count(*) FROM {table}
                    WHERE kind = 'membership' AND segment_id IS NOT NULL AND segment_id <> ''
                    AND digest <> ? GROUP BY segment_id""",
                [PENDING],
            ).fetchall()
            return {str(sid): int(n) for sid, n in rows}
        finally:
            con.close()

    def _open(self) -> duckdb.DuckDBPyConnection | None:
        """The copy's database; a damaged file is started afresh, a locked one (another
        process plans now) is not used: the plan then reads the store."""
        for attempt in range(2):
            try:
                # DuckDB's default limit is 80 % of the host's memory, outside the run's budget;
                # the copy only appends and deletes rows, which its file holds beyond this
                con = duckdb.connect(str(self.path), config={"memory_limit": COPY_MEMORY})
                self.path.chmod(0o600)  # the ledger's rows: as private as the state store
                con.execute(_MARKS)
            except duckdb.IOException as exc:
                if "lock" in str(exc).lower() or attempt:
                    log.warning("ledger copy %s not usable (%s): reading the state store",
                                self.path.name, type(exc).__name__)  # fmt: skip
                    return None
                self._remove()
            except duckdb.Error:
                if attempt:
                    return None
                self._remove()
            else:
                return con
        return None

    def _remove(self) -> None:
        for path in (self.path, self.path.with_name(self.path.name + ".wal")):
            path.unlink(missing_ok=True)

    def _refresh(
        self, con: duckdb.DuckDBPyConnection, destination: str
    ) -> tuple[str, LedgerMark | None]:
        """The copy's table of ``destination``, refreshed to match the store; or the store's
        mark, when the table must be copied whole."""
        found = con.execute(
            "SELECT tbl, epoch, seq, n FROM marks WHERE destination = ?", [destination]
        ).fetchone()
        table = "rows_" + hashlib.sha256(destination.encode()).hexdigest()[:16]
        after = int(found[2]) if found is not None else None
        most = max(10_000, int(self.share * int(found[3]))) if found is not None else 0
        mark, change = self.ledger.since(destination, after, most)
        if found is not None and found[1] == mark.epoch and change is not None:
            try:
                kept = _apply(con, table, destination, mark, change)
            except duckdb.Error:  # the copy's table damaged or gone: copied afresh below
                kept = False
            if kept:
                self.refreshed = (
                    "kept" if not change.rows.num_rows + len(change.gone) else "refreshed"
                )
                return table, None
        return table, mark

    def _copy(
        self, con: duckdb.DuckDBPyConnection, table: str, destination: str, mark: LedgerMark
    ) -> Iterator[pa.Table]:
        """The whole ledger of ``destination`` copied, and each chunk handed on once stored
        (``mark`` was read before: a write after it is read again by the next refresh, which
        is harmless). Committed after the last chunk; a reader that stops early rolls back."""
        con.execute("BEGIN")
        try:
            con.execute(f"CREATE OR REPLACE TABLE {table} ({_SHAPE})")
            n = 0
            for chunk in self.ledger.scan_arrow(destination):
                con.register("_ledger_chunk", chunk)
                con.execute(f"INSERT INTO {table} SELECT * FROM _ledger_chunk")
                con.unregister("_ledger_chunk")
                n += chunk.num_rows
                yield chunk
            _mark(con, destination, table, mark, n)
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise


def _mark(
    con: duckdb.DuckDBPyConnection, destination: str, table: str, mark: LedgerMark, n: int
) -> None:
    con.execute(
        "INSERT OR REPLACE INTO marks VALUES (?, ?, ?, ?, ?)",
        [destination, table, mark.epoch, mark.seq, n],
    )


def _apply(
    con: duckdb.DuckDBPyConnection, table: str, destination: str, mark: LedgerMark, change: Delta
) -> bool:
    """``change`` applied to the copy, kept only when the copy then counts the store's rows."""
    con.execute("BEGIN")
    try:
        con.register("_changed", change.rows)
        con.register("_gone", pa.table({"key": pa.array(change.gone, pa.string())}))
        con.execute(
            f"DELETE FROM {table} WHERE key IN "
            "(SELECT key FROM _changed UNION ALL SELECT key FROM _gone)"
        )
        con.execute(f"INSERT INTO {table} SELECT {', '.join(COLUMNS)} FROM _changed")
        con.unregister("_changed")
        con.unregister("_gone")
        counted = con.execute(f"SELECT count(*) FROM {table}").fetchone()
        if counted is None or int(counted[0]) != mark.rows:
            log.warning("ledger copy of %s counts %s rows, the store %s: copied afresh",
                        destination, counted[0] if counted else None, mark.rows)  # fmt: skip
            con.execute("ROLLBACK")
            return False
        _mark(con, destination, table, mark, mark.rows)
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    return True
