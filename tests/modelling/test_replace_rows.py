"""The model tables written incrementally hold exactly what a full rewrite would."""

from __future__ import annotations

import duckdb
import numpy as np
import pandas as pd
import pytest

from connector.store.replace_rows import replace_rows

KEY = ("segment_id", "profile_id")


def _frame(n: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    score = rng.random(n)
    score[::7] = np.nan
    return pd.DataFrame(
        {
            "segment_id": [f"s{i % 3}" for i in range(n)],
            "profile_id": [f"p{i}" for i in range(n)],
            "score": score,
            "holdout": rng.random(n) < 0.1,
            "name": pd.array([None if i % 5 == 0 else f"n{i}" for i in range(n)], "string"),
        }
    )


def _rows(con: duckdb.DuckDBPyConnection, table: str) -> list[tuple[object, ...]]:
    return con.execute(f"SELECT * FROM {table} ORDER BY ALL").fetchall()


def _written(old: pd.DataFrame, new: pd.DataFrame) -> tuple[str, list[tuple[object, ...]]]:
    """(how, rows) after writing ``old`` then ``new``, checked against a fresh full write."""
    con, ref = duckdb.connect(), duckdb.connect()
    replace_rows(con, "t", old, KEY)
    how = replace_rows(con, "t", new, KEY)
    assert replace_rows(ref, "t", new, KEY) == "full"
    got = _rows(con, "t")
    assert got == _rows(ref, "t")
    assert con.execute("DESCRIBE t").fetchall() == ref.execute("DESCRIBE t").fetchall()
    return how, got


def test_a_small_change_is_written_incrementally_and_equals_a_full_rewrite() -> None:
    old = _frame(400)
    new = old.copy()
    new.loc[3, "score"] = 0.5  # a changed value
    new.loc[7, "score"] = 0.25  # NaN (NULL) → value
    new.loc[11, "score"] = np.nan  # value → NULL
    new.loc[20, "holdout"] = not new.loc[20, "holdout"]
    new.loc[30, "name"] = "renamed"
    new = new.drop(index=[40, 41]).reset_index(drop=True)  # gone
    extra = _frame(402).tail(2).assign(profile_id=["new1", "new2"])
    new = pd.concat([new, extra], ignore_index=True)  # new keys
    how, rows = _written(old, new)
    assert how == "incremental"
    assert len(rows) == 400
    changed = {r[1]: r for r in rows}
    assert (changed["p3"][2], changed["p7"][2], changed["p11"][2]) == (0.5, 0.25, None)
    assert changed["p30"][4] == "renamed"
    assert "p40" not in changed
    assert "new2" in changed


def test_unchanged_frame_leaves_the_table_as_it_was() -> None:
    how, rows = _written(_frame(100), _frame(100))
    assert how == "incremental"
    assert len(rows) == 100


@pytest.mark.parametrize(
    "new",
    [
        _frame(100, seed=1),  # most rows changed
        _frame(100).assign(extra=1.0),  # a new column
        _frame(100).astype({"score": "float32"}),  # a changed type
        pd.concat([_frame(100), _frame(100).head(1)], ignore_index=True),  # duplicate key
        _frame(0),  # empty
        _frame(100).assign(profile_id=pd.array([None, *(f"p{i}" for i in range(1, 100))])),  # null
    ],
    ids=["large-share", "new-column", "new-type", "duplicate-key", "empty", "null-key"],
)
def test_falls_back_to_the_full_rewrite(new: pd.DataFrame) -> None:
    how, _ = _written(_frame(100), new)
    assert how == "full"


def test_missing_table_is_written_in_full() -> None:
    con = duckdb.connect()
    assert replace_rows(con, "t", _frame(10), KEY) == "full"
    assert len(_rows(con, "t")) == 10


def test_duplicate_old_keys_fall_back_rather_than_keep_them() -> None:
    con = duckdb.connect()
    old = _frame(50)
    replace_rows(con, "t", old, KEY)
    con.execute("INSERT INTO t SELECT * FROM t WHERE profile_id = 'p1'")  # a table not ours
    assert replace_rows(con, "t", old, KEY) == "full"
    ref = duckdb.connect()
    replace_rows(ref, "t", old, KEY)
    assert _rows(con, "t") == _rows(ref, "t")
