"""Planned changes kept in the data engine and built into ``Change`` objects as they are read.

The planner leaves each destination's changes as a table in a database of its own (DuckDB's
``plan_engine``, or Spark: ``connector.sync.plan_db``), numbered by ``ord`` in the order they
are sent; ``PlannedChanges`` is a sequence over such a table that builds the changes of a batch
of rows only when the batch is read (``build`` gets its rows at once, so the people they are
about are looked up together), so a first run that plans millions of changes holds one batch of
them in Python, not all. Ledger and desired state are compared there too
(``connector.sync.plan``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import overload

import duckdb

from connector.plugin.changes import Change
from connector.sync.plan_db import PlanDatabase, Row

__all__ = ["PlannedChanges", "plan_engine"]

_DATABASE: duckdb.DuckDBPyConnection | None = None


def plan_engine(
    spill_dir: Path | None = None, memory_limit: str | None = None
) -> duckdb.DuckDBPyConnection:
    """A connection of its own, for one plan, to the process's in-memory planning database.

    Opening a DuckDB database costs about 0.1 s, a connection to an open one next to nothing,
    and a plan's tables are TEMP tables of its connection, so plans never see each other's and
    closing the connection frees them. With ``spill_dir`` (given when the database is first
    opened) DuckDB may spill to disk there: a ledger of tens of millions of rows need not fit
    in memory."""
    global _DATABASE  # noqa: PLW0603 - one planning database per process, opened when needed
    if _DATABASE is None:
        _DATABASE = duckdb.connect()
        if spill_dir is not None:
            spill_dir.mkdir(parents=True, exist_ok=True)
            _DATABASE.execute(f"SET temp_directory = '{spill_dir.as_posix()}'")
        if memory_limit is not None:
            _DATABASE.execute("SET memory_limit = ?", [memory_limit])
    return _DATABASE.cursor()


class PlannedChanges(Sequence[Change]):
    """The changes in ``table`` (numbered by ``ord`` 1..n; ``columns`` are what ``build``
    reads, a batch of rows at a time), in order."""

    def __init__(
        self,
        db: PlanDatabase,
        table: str,
        columns: Sequence[str],
        n: int,
        build: Callable[[list[Row]], list[Change]],
    ) -> None:
        self._db = db
        self._table = table
        self._columns = tuple(columns)
        self._build = build
        self._len = n

    def __len__(self) -> int:
        return self._len

    def __iter__(self) -> Iterator[Change]:
        # a batch at a time by ``ord`` (the table is stored in that order, so each batch reads
        # only its own row groups), each fetched whole: no result stays open on the database
        step = self._db.batch
        for start in range(0, self._len, step):
            yield from self._between(start, min(start + step, self._len))

    def _between(self, start: int, stop: int) -> list[Change]:
        if stop <= start:
            return []
        return self._build(self._db.read(self._table, self._columns, start, stop))

    @overload
    def __getitem__(self, index: int) -> Change: ...

    @overload
    def __getitem__(self, index: slice) -> list[Change]: ...

    def __getitem__(self, index: int | slice) -> Change | list[Change]:
        if isinstance(index, slice):
            start, stop, step = index.indices(self._len)
            return self._between(start, stop) if step == 1 else list(self)[index]
        i = index + self._len if index < 0 else index
        if not 0 <= i < self._len:
            raise IndexError(index)
        return self._between(i, i + 1)[0]

    def __eq__(self, other: object) -> bool:
        """Equal to any sequence of the same changes in the same order (a list, say)."""
        if not isinstance(other, Sequence) or isinstance(other, str):
            return NotImplemented
        return len(other) == self._len and list(self) == list(other)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"PlannedChanges({self._table}, {self._len} changes)"
