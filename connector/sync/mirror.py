"""The ledger's rows for one destination, copied into the plan's database (DuckDB or Spark).

The state store (SQLite or PostgreSQL) stays the one record of what each destination holds:
pending marks and acknowledged rows are written there, in one transaction per batch, and a crash
leaves it right. The planner needs it beside the desired state to compare the two with joins,
so each plan loads it, a chunk at a time, into a table of the plan's database: from the state
store itself (``Ledger.scan_arrow``, an index range per chunk on either database), or, in a run,
from the workspace's copy of it, which reads from the store only what changed since the last
plan and is used only when it provably matches the store (``connector.sync.mirror_file``).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from typing import Protocol

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from connector.state.ledger import LedgerEntry, LedgerRow
from connector.sync.plan_db import PlanDatabase, as_plan_database

__all__ = ["LEDGER_SCHEMA", "LedgerSource", "mirror_ledger"]

_COLUMNS = ("key", "kind", "profile_id", "segment_id", "digest", "payload", "numbers")
LEDGER_SCHEMA = pa.schema([(c, pa.string()) for c in _COLUMNS])
_CHUNK = 50_000


class LedgerSource(Protocol):
    """What the planner reads a ledger through (``connector.state.Ledger``)."""

    def scan(self, destination: str, chunk: int = ...) -> Iterator[list[LedgerRow]]: ...


def _entry_rows(entries: Mapping[str, LedgerEntry]) -> Iterator[list[LedgerRow]]:
    rows: list[LedgerRow] = [
        (k, e.kind, e.profile_id, e.segment_id, e.digest, json.dumps(e.trait_names), e.numbers)
        for k, e in entries.items()
    ]
    yield rows


def mirror_ledger(
    db: PlanDatabase | duckdb.DuckDBPyConnection,
    destination: str,
    source: LedgerSource | Mapping[str, LedgerEntry],
    *,
    held: Iterable[str] = (),
    chunk: int = _CHUNK,
) -> int:
    """Copy ``destination``'s ledger rows into the plan's table ``ledger_rows``; return how many.

    Memberships of ``held`` segments are left out: the plan neither re-adds nor removes them
    (a segment whose rule failed keeps what it has)."""
    if isinstance(source, Mapping):
        tables = _tables(_entry_rows(source), held)
    else:
        arrow = getattr(source, "scan_arrow", None)  # the state store's; a test's may lack it
        tables = (
            _kept(arrow(destination), held)
            if arrow is not None
            else _tables(source.scan(destination, chunk), held)
        )
    return as_plan_database(db).load("ledger_rows", LEDGER_SCHEMA, tables)


def _kept(tables: Iterable[pa.Table], held: Iterable[str]) -> Iterator[pa.Table]:
    """The tables without the memberships of ``held`` segments."""
    skip = pa.array(sorted(set(held)), pa.string())
    for found in tables:
        if len(skip):
            drop = pc.fill_null(pc.is_in(found["segment_id"], value_set=skip), False)
            found = found.filter(pc.invert(drop))  # noqa: PLW2901 - the same table, filtered
        if found.num_rows:
            yield found


def _tables(chunks: Iterable[list[LedgerRow]], held: Iterable[str]) -> Iterator[pa.Table]:
    skip = frozenset(held)
    for rows in chunks:
        kept = [r for r in rows if r[3] not in skip] if skip else rows
        if kept:
            columns = [pa.array(c, pa.string()) for c in zip(*kept, strict=True)]
            yield pa.table(columns, schema=LEDGER_SCHEMA)
