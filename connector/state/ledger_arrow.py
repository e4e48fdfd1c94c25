"""A destination's ledger rows read as Arrow tables, for the planner's copy of them.

The planner copies every ledger row of a destination into its own database each run (the
state store stays the one record: ``connector.sync.mirror``). Read as tuples, that copy made a
Python string per value (17 million for 2.5 million rows), and those objects were most of its
cost. Here the database joins each row's values into one text, with separators no ledger value
holds (keys and ids are ours, payloads JSON, which escapes control characters), and Arrow
splits them again in C. A chunk whose texts do not split into exactly the columns (a value did
hold a separator) is read again as tuples. Keyset pages on the primary key, as ``Ledger.scan``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import Engine

__all__ = ["COLUMNS", "scan_arrow"]

COLUMNS = ("key", "kind", "profile_id", "segment_id", "digest", "payload", "numbers")
_SEP = "\x1f"  # unit separator
_NULL = "\x1e"  # record separator: stands for NULL


def scan_arrow(engine: Engine, destination: str, chunk: int) -> Iterator[pa.Table]:
    """Every row of ``destination`` in key order, ``chunk`` rows per table."""
    sqlite = engine.dialect.name == "sqlite"
    mark = "?" if engine.dialect.paramstyle == "qmark" else "%s"
    char = "char" if sqlite else "chr"
    joined = f" || {char}(31) || ".join(f"coalesce({c}, {char}(30))" for c in COLUMNS)
    after: str | None = None
    while True:
        where = f"destination = {mark}" + (f" AND key > {mark}" if after is not None else "")
        params = (destination,) if after is None else (destination, after)
        page = f"FROM ledger WHERE {where} ORDER BY key LIMIT {int(chunk)}"
        texts = [r[0] for r in _fetch(engine, f"SELECT {joined} {page}", params)]
        if not texts:
            return
        table = _split(texts)
        if table is None:  # a value holds a separator: this page as tuples
            rows = _fetch(engine, f"SELECT {', '.join(COLUMNS)} {page}", params)
            table = pa.table(
                [pa.array(c, pa.string()) for c in zip(*rows, strict=True)], names=list(COLUMNS)
            )
        yield table
        if len(texts) < chunk:
            return
        after = str(table.column("key")[-1].as_py())


def _fetch(engine: Engine, sql: str, params: tuple[str, ...]) -> list[tuple[Any, ...]]:
    """Rows through the driver's own cursor (SQLAlchemy's rows cost more than the query)."""
    with engine.connect() as conn:
        cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
        try:
            cursor.execute(sql, params)
            return list(cursor.fetchall())
        finally:
            cursor.close()


def _split(texts: list[str]) -> pa.Table | None:
    parts = pc.split_pattern(pa.array(texts, pa.string()), _SEP)
    if pc.any(pc.not_equal(pc.list_value_length(parts), len(COLUMNS))).as_py():
        return None
    columns = []
    for i in range(len(COLUMNS)):
        value = pc.list_element(parts, i)
        columns.append(pc.if_else(pc.equal(value, _NULL), pa.scalar(None, pa.string()), value))
    return pa.table(columns, names=list(COLUMNS))
