"""The report's profile figures, computed by DuckDB as aggregates over the model's tables.

Loading the whole ``features``, ``scores`` and ``memberships`` tables into pandas for a handful
of means and twenty histogram bins took 17 s of a run at a million profiles; these queries read
each table once and hand back only the figures (the page shows the same numbers as before).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import duckdb

__all__ = ["Bins", "numeric_columns", "profile_figures", "score_bins"]

MAX_FEATURES = 10
BINS = 20
# DuckDB types pandas reads as numbers (booleans excluded, as before)
_NUMERIC = re.compile(
    r"(U?(TINYINT|SMALLINT|INTEGER|BIGINT|HUGEINT))|FLOAT|DOUBLE|REAL|DECIMAL(\(.*\))?"
)


@dataclass(frozen=True, slots=True)
class Bins:
    """A score's histogram: ``counts[i]`` profiles in ``[lo + i*width, lo + (i+1)*width)``
    (the last bin closed), the values missing or NaN left out."""

    lo: float
    width: float
    counts: tuple[int, ...]


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def numeric_columns(con: duckdb.DuckDBPyConnection, table: str) -> list[str] | None:
    """The first numeric columns of ``table`` (not ``profile_id``), None if it does not exist."""
    try:
        rows = con.execute(f"DESCRIBE {_quote(table)}").fetchall()
    except duckdb.Error:
        return None  # not modelled yet (a failed first run)
    cols = [str(r[0]) for r in rows if r[0] != "profile_id" and _NUMERIC.fullmatch(str(r[1]))]
    return cols[:MAX_FEATURES]


def _value(col: str, alias: str = "") -> str:
    """The column as a double, NaN read as missing (pandas skipped both)."""
    ref = f"{alias}{_quote(col)}"
    return f"CASE WHEN isnan(CAST({ref} AS DOUBLE)) THEN NULL ELSE CAST({ref} AS DOUBLE) END"


def profile_figures(
    con: duckdb.DuckDBPyConnection,
) -> tuple[int, dict[str, float], dict[str, dict[str, float]]]:
    """Profiles, each feature's mean over all of them, and per segment its treated members'
    mean as an index against that (100 = like everyone)."""
    cols = numeric_columns(con, "features")
    if cols is None:
        return 0, {}, {}
    means = ", ".join(f"avg({_value(c)})" for c in cols)
    query = f"SELECT count(*){', ' + means if cols else ''} FROM features"
    row = con.execute(query).fetchone() or (0, *[None] * len(cols))  # always one row
    pop = {c: float(v) for c, v in zip(cols, row[1:], strict=True) if v is not None}
    if not cols:
        return int(row[0]), pop, {}
    seg_means = ", ".join(f"avg({_value(c, 'f.')})" for c in cols)
    try:
        rows = con.execute(
            f"""SELECT m.segment_id, {seg_means} FROM memberships m
                JOIN features f ON f.profile_id = m.profile_id
                WHERE NOT coalesce(m.holdout, false) AND m.segment_id IS NOT NULL
                GROUP BY 1 ORDER BY 1"""
        ).fetchall()
    except duckdb.Error:
        rows = []  # no memberships table
    index = {
        str(seg): {
            c: 100 * float(v) / pop[c]
            for c, v in zip(cols, values, strict=True)
            if v is not None and pop.get(c)
        }
        for seg, *values in rows
    }
    return int(row[0]), pop, index


def score_bins(con: duckdb.DuckDBPyConnection, bins: int = BINS) -> dict[str, Bins]:
    """Every numeric score's histogram of equal-width bins between its min and max."""
    out: dict[str, Bins] = {}
    for col in numeric_columns(con, "scores") or []:
        v = _value(col)
        lo, hi = con.execute(f"SELECT min({v}), max({v}) FROM scores").fetchone() or (None, None)
        if lo is None or hi is None:
            out[col] = Bins(0.0, 1.0, ())
            continue
        lo, hi = float(lo), float(hi)
        width = (hi - lo) / bins or 1.0
        counts = [0] * bins
        found = con.execute(
            f"""SELECT least({bins - 1}, CAST(floor((x - $1) / $2) AS BIGINT)) AS b, count(*)
                FROM (SELECT {v} AS x FROM scores) WHERE x IS NOT NULL GROUP BY 1""",
            [lo, width],
        ).fetchall()
        for b, n in found:
            counts[int(b)] = int(n)
        out[col] = Bins(lo, width, tuple(counts))
    return out
