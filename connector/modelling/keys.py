"""Data-derived keys that every random choice of the models hangs on.

Profile ids are keyed hashes with a random per-workspace salt, so two workspaces built from the
same sources give the same person different ids. Training splits, samples, control groups and
row order keyed on those ids would then differ between machines (issue 16: scores moved by up
to 0.15 between fresh installs; issue 18: rebuilding a workspace reshuffled control groups).
They are keyed instead on a hash of the profile's smallest identity key (``email:…``,
``phone:…`` or a source id), which only the data decides. A profile without identity keys (or
a store without an identity map, such as the benchmark loaders') keeps its profile id, which is
then itself data-derived.
"""

from __future__ import annotations

from typing import Any

import duckdb
import numpy as np
import numpy.typing as npt
import pandas as pd

__all__ = ["MODEL_KEY", "key_sql", "model_keys", "row_keys", "with_model_keys"]

MODEL_KEY = "model_key"


def _has_identity_map(con: duckdb.DuckDBPyConnection) -> bool:
    rows = con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_name = 'identity_map'"
    ).fetchall()
    return bool(rows[0][0])


def key_sql(con: duckdb.DuckDBPyConnection, profile_id: str) -> tuple[str, str]:
    """(a join clause, the SQL expression of the model key) for rows whose profile id is the
    SQL expression `profile_id`: the one definition `with_model_keys` and a query that keys
    its rows itself (`connector.modelling.feature_cache`) share."""
    anchor = f"'profile:' || {profile_id}"
    join = ""
    if _has_identity_map(con):
        join = f"""LEFT JOIN (SELECT profile_id, min(id_key) AS k FROM identity_map
                             GROUP BY profile_id) m ON m.profile_id = {profile_id}"""
        anchor = f"coalesce(m.k, {anchor})"
    return join, f"md5({anchor})[1:20]"


def _keyed(
    con: duckdb.DuckDBPyConnection, profile_ids: pd.Series, *, ordered: bool
) -> dict[str, npt.NDArray[Any]]:
    """{"k": each row's key, "i": its position}, in row order or (`ordered`) by key, then id."""
    ids = pd.DataFrame({"pid": profile_ids.astype(str).to_numpy(), "i": range(len(profile_ids))})
    join, key = key_sql(con, "ids.pid")
    order = "k, ids.pid" if ordered else "ids.i"
    con.register("_model_key_ids", ids)
    try:
        got = con.execute(
            f"""SELECT k, i FROM (SELECT {key} AS k, ids.i, ids.pid
                                  FROM _model_key_ids ids {join}) ids ORDER BY {order}"""
        ).fetchnumpy()
    finally:
        con.unregister("_model_key_ids")
    return {name: np.asarray(got[name]) for name in ("k", "i")}


def model_keys(con: duckdb.DuckDBPyConnection, profile_ids: pd.Series) -> pd.Series:
    """One stable hex key per profile id (index aligned with `profile_ids`); never raw PII.

    Computed in SQL (md5 as a stable spread, not for secrecy): a million profiles in well under
    a second, where a Python hash loop took seconds per training frame."""
    keys = _keyed(con, profile_ids, ordered=False)["k"]
    return pd.Series(keys, index=profile_ids.index, dtype=object)


def with_model_keys(con: duckdb.DuckDBPyConnection, frame: pd.DataFrame) -> pd.DataFrame:
    """`frame` with a `model_key` column, rows ordered by it (ties by profile id), so that the
    same customers come in the same order whatever their salted ids are. Sorted in SQL (byte
    order of the strings, which is Python's): a pandas sort of a million rows by two string
    columns cost seconds."""
    keyed = _keyed(con, frame["profile_id"], ordered=True)
    out = frame.take(np.asarray(keyed["i"], dtype=np.int64)).reset_index(drop=True)
    out[MODEL_KEY] = pd.Series(keyed["k"], index=out.index, dtype=object)
    return out


def row_keys(frame: pd.DataFrame) -> list[str]:
    """The rows' model keys (their profile ids in frames built without `with_model_keys`)."""
    column = MODEL_KEY if MODEL_KEY in frame.columns else "profile_id"
    return frame[column].astype(str).tolist()
