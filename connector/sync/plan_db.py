"""Where a plan's joins run: a DuckDB database of the plan's own, or Spark's executors.

The planner (``connector.sync.plan``, ``connector.sync.plan_rows``) writes each statement once,
in DuckDB's dialect, and hands it to a ``PlanDatabase``, which holds the plan's tables: the
ledger's copy, the desired keys and digests, the candidates and the numbered changes.
``DuckPlanDatabase`` (here) runs the SQL as written on an in-process connection;
``connector.engine.plan_spark`` translates it with SQLGlot and runs it on Spark when
``[engine] kind = "spark"``.

Why one text, translated, rather than a small query per engine: what the plan sends (which keys
are upserts, adds and removes, and in which order) lives in these joins, and two copies could
drift apart with nothing but the parity suite to notice. The statements use only what both
engines mean the same way (left joins instead of correlated ``EXISTS``, a new table instead of
``UPDATE``/``DELETE``), so the translation only binds parameters and respells functions.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, Protocol

import duckdb
import pyarrow as pa

__all__ = ["DuckPlanDatabase", "PlanDatabase", "Row", "as_plan_database"]

Row = tuple[Any, ...]


class PlanDatabase(Protocol):
    """The tables of one plan, named as the planner's SQL names them."""

    batch: int
    """How many planned rows one ``read`` is asked for (a query each: larger on Spark)."""

    def put(self, name: str, table: pa.Table) -> None:
        """Table ``name`` holding ``table`` (desired keys and digests built in Python)."""

    def load(self, name: str, schema: pa.Schema, chunks: Iterable[pa.Table]) -> int:
        """Table ``name`` filled a chunk at a time (the ledger's copy); returns its rows."""

    def create(self, name: str, sql: str, params: Sequence[Any] = ()) -> int:
        """Table ``name`` from a query (DuckDB's dialect); returns its rows."""

    def rows(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        """The rows of a query (DuckDB's dialect), in the order it asks for."""

    def arrow(self, sql: str, params: Sequence[Any] = ()) -> pa.Table:
        """``rows`` as an Arrow table: for the many rows Python reads column-wise."""

    def read(self, table: str, columns: Sequence[str], start: int, stop: int) -> list[Row]:
        """``columns`` of the rows of ``table`` numbered ``start < ord <= stop``, in order."""

    def drop(self, *names: str) -> None:
        """Forget tables the plan no longer reads."""

    def close(self) -> None:
        """Free every table of the plan (its changes can no longer be read)."""


class DuckPlanDatabase:
    """A plan's tables as TEMP tables of one DuckDB connection (``plan_engine``); tables
    handed over from Python are read in place as Arrow."""

    batch = 5_000

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self.con = con
        self._views: set[str] = set()

    def put(self, name: str, table: pa.Table) -> None:
        self.con.register(name, table)
        self._views.add(name)

    def load(self, name: str, schema: pa.Schema, chunks: Iterable[pa.Table]) -> int:
        columns = ", ".join(f"{f.name} {_DUCK_TYPES[f.type]}" for f in schema)
        self.con.execute(f"CREATE OR REPLACE TEMP TABLE {name} ({columns})")
        n = 0
        for chunk in chunks:
            self.con.register("_plan_chunk", chunk)
            try:
                self.con.execute(f"INSERT INTO {name} SELECT * FROM _plan_chunk")
            finally:
                self.con.unregister("_plan_chunk")
            n += chunk.num_rows
        return n

    def create(self, name: str, sql: str, params: Sequence[Any] = ()) -> int:
        found = self.con.execute(
            f"CREATE OR REPLACE TEMP TABLE {name} AS {sql}", list(params)
        ).fetchall()
        return int(found[0][0]) if found else 0

    def rows(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        return self.con.execute(sql, list(params)).fetchall()

    def arrow(self, sql: str, params: Sequence[Any] = ()) -> pa.Table:
        return self.con.sql(sql, params=list(params)).to_arrow_table()

    def read(self, table: str, columns: Sequence[str], start: int, stop: int) -> list[Row]:
        # the table is stored in ``ord`` order, so a range reads only its own row groups
        return self.con.execute(
            f"SELECT {', '.join(columns)} FROM {table} WHERE ord > ? AND ord <= ? ORDER BY ord",
            [start, stop],
        ).fetchall()

    def drop(self, *names: str) -> None:
        for name in names:
            if name in self._views:
                self.con.unregister(name)
                self._views.discard(name)
            else:
                self.con.execute(f"DROP TABLE IF EXISTS {name}")

    def close(self) -> None:
        self.con.close()


_DUCK_TYPES = {pa.string(): "VARCHAR", pa.bool_(): "BOOLEAN", pa.int64(): "BIGINT"}


def as_plan_database(db: PlanDatabase | duckdb.DuckDBPyConnection) -> PlanDatabase:
    """A DuckDB connection (as tests and the stream path pass one) wrapped; others as given."""
    return DuckPlanDatabase(db) if isinstance(db, duckdb.DuckDBPyConnection) else db
