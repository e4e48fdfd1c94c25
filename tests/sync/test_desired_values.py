"""Trait values as planned: pandas' missing values are no value, never the text "<NA>" or "NaT"
(a trait with a missing date was planned, digested and sent as "NaT")."""

from __future__ import annotations

import numpy as np
import pandas as pd

from connector.sync.desired import _clean, traits_digest


def test_pandas_missing_values_are_no_value() -> None:
    assert _clean(pd.NA) is None
    assert _clean(pd.NaT) is None
    assert _clean(np.nan) is None
    assert _clean(pd.Timestamp("2025-01-02")) == "2025-01-02T00:00:00"


def test_column_lists_give_the_digests_row_dicts_gave() -> None:
    """The planner reads trait columns as lists (``tolist``), not rows (``to_dict``): the same
    values and so the same digests, whatever the column's dtype, or every profile already
    delivered would be sent again after an upgrade."""
    n = 300
    frame = pd.DataFrame(
        {
            "a": np.linspace(-5, 5, n) * 123.456,
            "b": pd.array([None if i % 7 == 0 else i for i in range(n)], dtype="Int64"),
            "c": pd.Series([None if i % 5 == 0 else f"x{i}" for i in range(n)], dtype="string"),
            "d": pd.to_datetime(["2025-01-01"] * n),
            "e": np.where(np.arange(n) % 9 == 0, np.nan, np.arange(n) / 7),
            "f": np.arange(n) % 4,
        },
        index=[f"p{i}" for i in range(n)],
    )
    rows = frame.to_dict("index")
    columns = {k: frame[k].tolist() for k in frame.columns}
    for i, pid in enumerate(frame.index):
        old = {k: c for k in frame.columns if (c := _clean(rows[pid][k], 2)) is not None}
        new = {k: c for k in frame.columns if (c := _clean(columns[k][i], 2)) is not None}
        assert traits_digest(old) == traits_digest(new), pid
