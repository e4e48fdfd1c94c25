"""Classifier scores kept between runs that score with the same frozen classifiers.

Within one `as_of`, while the store changed little, the engine scores with the classifiers it
froze (`connector.modelling.reuse`), so a profile whose classifier inputs did not change gets
the same uncalibrated score again; scoring everyone anyway (both classifiers' trees over a
million rows) was a third of a 1 %-change run's model stage. The data store keeps, per profile,
the exact inputs (float64 bits) and the uncalibrated scores, under a fingerprint of the
classifiers; a run looks each profile up, compares its inputs bit for bit, and scores only the
profiles whose inputs differ or that are new (every profile when the fingerprint differs).

Only what depends on the row alone is kept: the anchor shift, the calibration to the horizon
and everything population-wide is recomputed from these scores each run. The scorer is
row-wise (tree walks, element-wise arithmetic, per-row sums), so a kept score is the score a
full pass would give (tests/modelling/test_score_cache.py compares both, bit for bit).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping

import duckdb
import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa

from connector.modelling.frozen import FrozenBlend, FrozenPlatt
from connector.modelling.propensity import PurchaseClassifier

__all__ = ["TABLE", "cached_uncalibrated", "fingerprint"]

TABLE = "model_score_cache"

# Uncalibrated scores of rows by classifier name, index aligned with the rows
Scorer = Callable[[pd.DataFrame], pd.DataFrame]


def fingerprint(models: Mapping[str, PurchaseClassifier]) -> str | None:
    """A digest of everything the uncalibrated scores depend on besides the row, or None when
    a classifier is not in frozen form (its scores are then not kept)."""
    parts = []
    for name, clf in sorted(models.items()):
        if not isinstance(clf.model, FrozenBlend) or not isinstance(clf.calibrator, FrozenPlatt):
            return None
        parts.append(
            [name, clf.model.frozen, clf.calibrator.freeze(), clf.horizon_scale, clf.columns]
        )
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:24]


def _stored(
    con: duckdb.DuckDBPyConnection,
    fit: str,
    ids: npt.NDArray[np.object_],
    width: int,
    scores: int,
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.float64]] | None:
    """(positions in `ids`, input bits, uncalibrated scores) of the profiles kept under `fit`,
    in the order of `ids`; None when nothing is kept under it."""
    present = con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_name = ?", [TABLE]
    ).fetchall()[0][0]
    if not present:
        return None
    head = con.execute(f"SELECT fit FROM {TABLE} LIMIT 1").fetchall()
    if not head or head[0][0] != fit:
        return None
    con.register("_score_cache_ids", pa.table({"profile_id": ids, "_at": np.arange(len(ids))}))
    try:
        rel = con.sql(
            f"""SELECT q._at, c.* EXCLUDE (fit, profile_id) FROM _score_cache_ids q
                JOIN {TABLE} c USING (profile_id) ORDER BY q._at"""
        )
        table = rel.to_arrow_table() if rel is not None else None
    finally:
        con.unregister("_score_cache_ids")
    if table is None or table.num_columns != 1 + scores + width:
        return None
    at = table.column("_at").to_numpy()
    if len(at) > 1 and not (np.diff(at) > 0).all():  # one row per profile, or none is used
        return None
    xs = np.empty((len(at), width), dtype=np.float64)
    for i in range(width):
        xs[:, i] = table.column(f"x{i}").to_numpy()
    us = np.column_stack([table.column(f"u{i}").to_numpy() for i in range(scores)])
    return at, xs.view(np.int64), us.astype(np.float64)


def cached_uncalibrated(
    con: duckdb.DuckDBPyConnection,
    frame: pd.DataFrame,
    models: Mapping[str, PurchaseClassifier],
    score: Scorer,
) -> pd.DataFrame:
    """`score(frame)` (one column per name of `models`), computed only for the rows whose
    classifier inputs are not kept bit for bit from an earlier run of the same classifiers;
    what is kept is brought up to date."""
    if not models:
        return pd.DataFrame(index=frame.index)
    fit = fingerprint(models)
    if fit is None or frame.empty:
        return score(frame)
    names = sorted(models)
    columns = sorted({c for clf in models.values() for c in clf.columns})
    x = np.ascontiguousarray(frame[columns].to_numpy(dtype=np.float64))
    ids = frame["profile_id"].astype(str).to_numpy(dtype=object)
    out = np.empty((len(frame), len(names)), dtype=np.float64)
    stored = _stored(con, fit, ids, len(columns), len(names))
    fresh = np.ones(len(frame), dtype=bool)
    if stored is not None:
        found, kept_bits, kept = stored
        same = (kept_bits == x[found].view(np.int64)).all(axis=1)
        out[found[same]] = kept[same]
        fresh[found[same]] = False
    rows = np.flatnonzero(fresh)
    if len(rows):
        scored = score(frame.iloc[rows])
        out[rows] = scored[names].to_numpy(dtype=np.float64)
    _keep(con, fit, ids[rows], x[rows], out[rows],
          replace=stored is None or len(rows) == len(frame))  # fmt: skip
    return pd.DataFrame(out, columns=names, index=frame.index)


def _keep(
    con: duckdb.DuckDBPyConnection,
    fit: str,
    ids: npt.NDArray[np.object_],
    x: npt.NDArray[np.float64],
    u: npt.NDArray[np.float64],
    *,
    replace: bool,
) -> None:
    """Store the newly scored rows: the whole table when `replace`, else those profiles'
    rows swapped for the new ones."""
    if not replace and not len(ids):
        return
    columns = {"profile_id": pa.array(ids, pa.string())}
    columns |= {f"u{i}": pa.array(u[:, i]) for i in range(u.shape[1])}
    columns |= {f"x{i}": pa.array(x[:, i]) for i in range(x.shape[1])}
    rows = pa.table(columns)
    con.register("_score_cache_rows", rows)
    try:
        if replace:
            con.execute(
                f"CREATE OR REPLACE TABLE {TABLE} AS SELECT ? AS fit, * FROM _score_cache_rows",
                [fit],
            )
        else:
            con.execute(
                f"DELETE FROM {TABLE} "
                "WHERE profile_id IN (SELECT profile_id FROM _score_cache_rows)"
            )
            con.execute(f"INSERT INTO {TABLE} SELECT ?, * FROM _score_cache_rows", [fit])
    finally:
        con.unregister("_score_cache_rows")
