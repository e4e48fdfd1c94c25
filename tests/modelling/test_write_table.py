"""The model tables written through Arrow are the tables DuckDB's pandas scan would make."""

from __future__ import annotations

import duckdb
import numpy as np
import pandas as pd
import pytest

from connector.pipeline.model import write_table


def _frame() -> pd.DataFrame:
    when = pd.DatetimeIndex([pd.Timestamp("2026-01-01"), pd.NaT, pd.Timestamp("2026-01-02")])
    return pd.DataFrame(
        {
            "profile_id": ["p1", None, "p3"],
            "name": pd.array(["x", None, "z"], "string"),
            "score": [1.5, np.nan, -0.0],
            "orders": [1, 2, 3],
            "maybe": pd.array([1, None, 3], "Int64"),
            "holdout": [True, False, True],
            "at": when,
            "at_utc": when.tz_localize("UTC"),
            "small": np.array([1.0, 2.0, np.nan], dtype="float32"),
        }
    )


def _pandas_scan(frame: pd.DataFrame) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.register("f", frame)
    con.execute("CREATE TABLE t AS SELECT * FROM f")
    return con


@pytest.mark.parametrize(
    "frame",
    [
        _frame(),
        _frame().assign(
            tier=pd.Categorical(pd.Series(["gold", "silver", None]))
        ),  # an ENUM stays one
        _frame().assign(
            mixed=pd.Series(["1", 2, None], dtype=object)
        ),  # Python objects Arrow cannot type
        _frame().head(0),
    ],
    ids=["common-types", "categorical", "mixed-objects", "empty"],
)
def test_write_table_equals_the_pandas_scan(frame: pd.DataFrame) -> None:
    con, ref = duckdb.connect(), _pandas_scan(frame)
    con.execute("CREATE TABLE t AS SELECT 1 AS old")  # replaced, not appended to
    write_table(con, "t", frame)
    assert con.execute("DESCRIBE t").fetchall() == ref.execute("DESCRIBE t").fetchall()
    got, want = con.execute("SELECT * FROM t").fetchall(), ref.execute("SELECT * FROM t").fetchall()
    assert got == want
    signs = "SELECT list(sign_bit) FROM (SELECT signbit(score) AS sign_bit FROM t)"
    if "score" in frame.columns:
        assert con.execute(signs).fetchall() == ref.execute(signs).fetchall()
