"""Give a table a frame's content, writing only the rows that changed.

The model stage stores features, scores and memberships every run; after a 1% change almost
every row is the same, and rewriting the whole table (convert, compress, write) was most of the
stage's store time at a million profiles. The diff is set-based in DuckDB: the table's rows the
frame no longer has unchanged (``EXCEPT ALL`` over every column) name the keys to delete, the
frame's rows the table does not hold are inserted, both in one transaction. The table then holds
the same rows as after a full rewrite; only their physical order differs, and no reader relies on
it (each aggregates, filters by key or sorts). The full rewrite stays for a missing table, a
changed schema, a frame whose key is not unique, or when a large share changed.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import duckdb
import pandas as pd

__all__ = ["FULL_SHARE", "replace_rows"]

# above this share of changed rows the full rewrite is as cheap and leaves a compact table
FULL_SHARE = 0.3
_FRAME = "replace_rows_frame"
_ADD = "replace_rows_add"
_GONE = "replace_rows_gone"

Written = Literal["full", "incremental"]


def replace_rows(
    con: duckdb.DuckDBPyConnection, table: str, frame: pd.DataFrame, key: Sequence[str]
) -> Written:
    """Make ``table`` hold exactly ``frame``'s rows; ``key`` identifies a row (unique in the
    frame). Returns how it was written."""
    con.register(_FRAME, frame)
    try:
        if _same_schema(con, table) and _unique(frame, key) and _incremental(con, table, key):
            return "incremental"
        con.execute(f"CREATE OR REPLACE TABLE {table} AS SELECT * FROM {_FRAME}")
        return "full"
    finally:
        con.unregister(_FRAME)


def _same_schema(con: duckdb.DuckDBPyConnection, table: str) -> bool:
    try:
        old = con.execute(f"DESCRIBE {table}").fetchall()
    except duckdb.CatalogException:
        return False
    new = con.execute(f"DESCRIBE SELECT * FROM {_FRAME}").fetchall()
    return [r[:2] for r in old] == [r[:2] for r in new]


def _unique(frame: pd.DataFrame, key: Sequence[str]) -> bool:
    if not len(frame) or not set(key) <= set(frame.columns):
        return False
    return not bool(frame.duplicated(list(key)).any())


def _incremental(con: duckdb.DuckDBPyConnection, table: str, key: Sequence[str]) -> bool:
    """Delete and insert the changed rows in one transaction; False (nothing written) when too
    many changed or the result does not hold as many rows as the frame (duplicate old keys)."""
    keys = ", ".join(key)
    match = " AND ".join(f"t.{k} = g.{k}" for k in key)
    con.begin()
    try:
        con.execute(
            f"CREATE TEMP TABLE {_ADD} AS SELECT * FROM {_FRAME} EXCEPT ALL SELECT * FROM {table}"
        )
        added = _count(con, _ADD)
        total = _count(con, _FRAME)
        if added > FULL_SHARE * total:
            con.rollback()
            return False
        con.execute(
            f"""CREATE TEMP TABLE {_GONE} AS SELECT DISTINCT {keys} FROM
                (SELECT * FROM {table} EXCEPT ALL SELECT * FROM {_FRAME})"""
        )
        if _count(con, _GONE) > FULL_SHARE * total:
            con.rollback()
            return False
        con.execute(f"DELETE FROM {table} t USING {_GONE} g WHERE {match}")
        con.execute(f"INSERT INTO {table} SELECT * FROM {_ADD}")
        if _count(con, table) != total:
            con.rollback()
            return False
        con.execute(f"DROP TABLE {_ADD}")
        con.execute(f"DROP TABLE {_GONE}")
        con.commit()
    except BaseException:
        con.rollback()
        raise
    return True


def _count(con: duckdb.DuckDBPyConnection, table: str) -> int:
    row = con.execute(f"SELECT count(*) FROM {table}").fetchone()
    return int(row[0]) if row else 0
