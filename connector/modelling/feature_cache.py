"""Features kept between runs on the same cutoff, recomputed only for the profiles that changed.

A run after 1 % of the profiles changed computed every profile's features again: a third of
its model stage at a million profiles. Every feature is an aggregate over one profile's own
events before the cutoff and its `created_at` (netting never crosses profiles,
`connector.modelling.orders`), plus what holds for everyone: the cutoff, the top categories, the
engagement half-life and the query itself. So the data store keeps, per profile, a fingerprint
of those inputs (a 64-bit hash over its events' used columns and its profile row, computed
set-based in DuckDB, far cheaper than the features) and its feature row, under a key of what
holds for everyone. A run computes the fingerprints, recomputes the features of the profiles
whose fingerprint differs or is new (`compute_features(scope=...)`), drops those that are gone
and reads everyone else's row back as stored. Nothing here depends on how unify assigned
profiles: a profile whose events moved, merged or changed has a different fingerprint.

A new cutoff (the default `as_of` is today, so the first run of each day), other categories,
another half-life, another version of the query or of DuckDB recomputes everyone, as does a
store without the table (an upgrade). Only the scoring cutoff is kept; training cutoffs are
computed afresh when the classifiers are refitted. tests/modelling/test_feature_cache.py
compares a run that reuses rows with a run that recomputes everyone, byte for byte.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime

import duckdb
import numpy as np
import pandas as pd

from connector.modelling.backend import ModelBackend
from connector.modelling.features import category_column, compute_features, feature_sql
from connector.modelling.keys import MODEL_KEY, key_sql

__all__ = ["TABLE", "cached_features"]

TABLE = "model_feature_cache"
_FORMAT = 1  # bump when the kept layout or `tidy_features` changes
_PRINTS = "_model_feature_prints"
_SCOPE = "_model_feature_scope"
# above this share of changed profiles one pass over everyone is cheaper than the scoped one
_FULL_ABOVE = 0.5


def _key(cutoff: datetime, categories: list[str], half_life_days: float) -> str:
    """Everything every profile's features depend on besides its own rows."""
    blob = json.dumps(
        [
            _FORMAT,
            duckdb.__version__,  # hash() and the float sums are DuckDB's
            np.__version__,  # the rounding in `tidy_features`
            cutoff.isoformat(),
            sorted(categories),  # their order is only the columns' (`_kept_rows`)
            repr(float(half_life_days)),
            feature_sql(sorted(categories), half_life_days, None, None),
        ]
    )
    return hashlib.sha256(blob.encode()).hexdigest()[:24]


def _fingerprint(con: duckdb.DuckDBPyConnection, cutoff: datetime) -> None:
    """One fingerprint per profile with a profile row or an event before `cutoff` (into
    `_PRINTS`): the columns of both that the feature query reads."""
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE {_PRINTS} AS
        WITH e AS (
          SELECT profile_id, count(*) AS n,
                 bit_xor(hash(event_id, type, revenue, properties, occurred_at)) AS h
          FROM events WHERE occurred_at < $1 GROUP BY profile_id)
        SELECT coalesce(p.profile_id, e.profile_id) AS profile_id,
               hash(p.profile_id IS NULL, p.created_at, e.n, e.h) AS fp
        FROM profiles p FULL OUTER JOIN e ON p.profile_id = e.profile_id""",
        [cutoff],
    )


def _stored_key(con: duckdb.DuckDBPyConnection) -> str | None:
    present = con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_name = ?", [TABLE]
    ).fetchall()[0][0]
    head = con.execute(f"SELECT key FROM {TABLE} LIMIT 1").fetchall() if present else []
    return str(head[0][0]) if head else None


def _changed(con: duckdb.DuckDBPyConnection, key: str) -> int:
    """Put the profiles whose fingerprint is new or differs into `_SCOPE`; how many."""
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE {_SCOPE} AS
        SELECT f.profile_id, f.fp FROM {_PRINTS} f
        WHERE NOT EXISTS (SELECT 1 FROM {TABLE} c WHERE c.profile_id = f.profile_id
                          AND c.fp = f.fp AND c.key = ?)""",
        [key],
    )
    return int(con.execute(f"SELECT count(*) FROM {_SCOPE}").fetchall()[0][0])


def _keep(con: duckdb.DuckDBPyConnection, key: str, frame: pd.DataFrame, prints: str) -> None:
    """Store `frame`'s rows with the fingerprints in `prints` (a profile there without a row
    has none before the cutoff, which is kept too): the whole table when `prints` is every
    profile's, else in place of the changed and gone profiles' rows."""
    # the frame itself, not an Arrow copy: DuckDB scans its arrays in place (NaN as NULL, as
    # the feature query gave them), so keeping a million rows adds no copy to the first run
    con.register("_model_feature_rows", frame)
    try:
        rows = f"""SELECT ? AS key, f.fp, r.profile_id IS NOT NULL AS has_row, f.profile_id,
                          r.* EXCLUDE (profile_id)
                   FROM {prints} f LEFT JOIN _model_feature_rows r USING (profile_id)"""
        if prints == _PRINTS:
            con.execute(f"CREATE OR REPLACE TABLE {TABLE} AS {rows}", [key])
            return
        con.execute(
            f"""DELETE FROM {TABLE} c WHERE NOT EXISTS (
                SELECT 1 FROM {_PRINTS} f WHERE f.profile_id = c.profile_id AND f.fp = c.fp)"""
        )
        con.execute(f"INSERT INTO {TABLE} BY NAME {rows}", [key])
    finally:
        con.unregister("_model_feature_rows")


def _kept_rows(con: duckdb.DuckDBPyConnection, categories: list[str]) -> pd.DataFrame:
    """The kept rows as `with_model_keys(compute_features(...))` gives them, keyed and ordered
    in the same query (a million ids sent back to DuckDB to be keyed cost seconds): the
    category shares last and in the order of `categories` (equal counts swap places), then
    the model key, rows by model key and profile id."""
    shares = [category_column(c) for c in categories]
    named = [c for c in con.table(TABLE).columns if c not in ("key", "fp", "has_row")]
    columns = [c for c in named if c not in shares] + shares
    join, key = key_sql(con, "c.profile_id")
    rel = con.sql(
        f"""SELECT {", ".join(f'c."{c}"' for c in columns)}, {key} AS {MODEL_KEY}
            FROM {TABLE} c {join} WHERE c.has_row ORDER BY {MODEL_KEY}, c.profile_id"""
    )
    if rel is None:  # a SELECT always yields a relation; guard for the type checker
        raise RuntimeError("feature cache query returned no relation")
    frame: pd.DataFrame = rel.to_arrow_table().to_pandas()
    frame[MODEL_KEY] = frame[MODEL_KEY].astype(object)  # as `with_model_keys` holds it
    return frame


def cached_features(
    backend: ModelBackend,
    con: duckdb.DuckDBPyConnection,
    cutoff: datetime,
    *,
    categories: list[str],
    half_life_days: float,
    items_table: str | None,
    baskets_table: str | None,
) -> pd.DataFrame:
    """`backend.features(...)` at the scoring cutoff, recomputing only the changed profiles'
    rows of what an earlier run on the same key kept (see the module docstring); rows read
    back come keyed and ordered as `with_model_keys` would give them (a `MODEL_KEY` column)."""
    if backend.name != "duckdb":  # features computed elsewhere are not kept here
        return backend.features(con, cutoff, categories=categories,
                                half_life_days=half_life_days, items_table=items_table,
                                baskets_table=baskets_table)  # fmt: skip
    key = _key(cutoff, categories, half_life_days)
    _fingerprint(con, cutoff)
    try:
        total, nameless = con.execute(
            f"SELECT count(*), count(*) FILTER (WHERE profile_id IS NULL) FROM {_PRINTS}"
        ).fetchall()[0]
        usable = not nameless and _stored_key(con) == key
        scoped = usable and _changed(con, key) <= _FULL_ABOVE * total
        frame = compute_features(
            con, cutoff, categories=categories, half_life_days=half_life_days,
            items_table=items_table, baskets_table=baskets_table,
            scope=_SCOPE if scoped else None,
        )  # fmt: skip
        if nameless:  # a row without a profile id: no fingerprint names it, nothing is kept
            con.execute(f"DROP TABLE IF EXISTS {TABLE}")
            return frame
        _keep(con, key, frame, _SCOPE if scoped else _PRINTS)
        return _kept_rows(con, categories) if scoped else frame
    finally:
        con.execute(f"DROP TABLE IF EXISTS {_PRINTS}")
        con.execute(f"DROP TABLE IF EXISTS {_SCOPE}")
