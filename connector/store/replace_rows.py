"""Give a table a frame's content, writing only the rows that changed.

The model stage stores features, scores and memberships every run; after a 1% change almost
every row is the same, and rewriting the whole table (convert, compress, write) was most of the
stage's store time at a million profiles. The diff is set-based in DuckDB: one join on the key
finds the keys whose row is new, gone or differs in any column; those keys are deleted and the
frame's rows for them inserted, in one transaction. The table then holds
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
_CHANGED = "replace_rows_changed"

Written = Literal["full", "incremental"]


def replace_rows(
    con: duckdb.DuckDBPyConnection, table: str, frame: pd.DataFrame, key: Sequence[str]
) -> Written:
    """Make ``table`` hold exactly ``frame``'s rows; ``key`` identifies a row (unique in the
    frame). Returns how it was written."""
    con.register(_FRAME, frame)
    try:
        if _same_schema(con, table) and _unique(con, frame, key) and _incremental(con, table, key):
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


def _unique(con: duckdb.DuckDBPyConnection, frame: pd.DataFrame, key: Sequence[str]) -> bool:
    """Rows to write, every key present and unique (in DuckDB: pandas' own check costs more)."""
    if not len(frame) or not set(key) <= set(frame.columns):
        return False
    keys = ", ".join(f'"{k}"' for k in key)
    nulls = " OR ".join(f'"{k}" IS NULL' for k in key)
    row = con.execute(
        f"""SELECT count(*) FILTER (WHERE {nulls}), count(*) - count(DISTINCT ({keys}))
            FROM {_FRAME}"""
    ).fetchone()
    return row == (0, 0)


def _incremental(con: duckdb.DuckDBPyConnection, table: str, key: Sequence[str]) -> bool:
    """Delete and insert the changed rows in one transaction; False (nothing written) when too
    many changed or the result does not hold as many rows as the frame (duplicate old keys)."""
    total = _count(con, _FRAME)
    con.begin()
    try:
        con.execute(_changed_keys(con, table, key))
        if _count(con, _CHANGED) > FULL_SHARE * total:
            con.rollback()
            return False
        match = " AND ".join(f'x."{k}" = g."{k}"' for k in key)
        con.execute(f"DELETE FROM {table} x USING {_CHANGED} g WHERE {match}")
        con.execute(
            f"""INSERT INTO {table} SELECT * FROM {_FRAME} x
                WHERE EXISTS (SELECT 1 FROM {_CHANGED} g WHERE {match})"""
        )
        if _count(con, table) != total:
            con.rollback()
            return False
        con.execute(f"DROP TABLE {_CHANGED}")
        con.commit()
    except BaseException:
        con.rollback()
        raise
    return True


def _changed_keys(con: duckdb.DuckDBPyConnection, table: str, key: Sequence[str]) -> str:
    """The keys whose row is new, gone or differs in any column (NULL equals NULL, NaN NaN):
    one join on the key, cheaper than comparing whole rows as sets."""
    columns = [str(d[0]) for d in con.execute(f"SELECT * FROM {_FRAME} LIMIT 0").description]
    rest = [c for c in columns if c not in key]
    differs = "".join(f' OR n."{c}" IS DISTINCT FROM o."{c}"' for c in rest)
    on = " AND ".join(f'n."{k}" = o."{k}"' for k in key)
    pick = ", ".join(f'coalesce(n."{k}", o."{k}") AS "{k}"' for k in key)
    first = key[0]
    return f"""CREATE TEMP TABLE {_CHANGED} AS SELECT {pick}
               FROM {_FRAME} n FULL JOIN {table} o ON {on}
               WHERE n."{first}" IS NULL OR o."{first}" IS NULL{differs}"""


def _count(con: duckdb.DuckDBPyConnection, table: str) -> int:
    row = con.execute(f"SELECT count(*) FROM {table}").fetchone()
    return int(row[0]) if row else 0
