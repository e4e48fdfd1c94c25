"""Digests computed column-wise (``connector.sync.digests``) equal ``traits_digest`` of each
profile's cleaned trait dict: a different text would re-send every delivered profile."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from connector.sync.desired_columns import DesiredColumns
from connector.sync.traitvalues import clean, traits_digest

_FLOATS = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.floats(min_value=-1e4, max_value=1e4),
    # values next to a rounding half: 0.125, 2.675 (stored below its half), 0.5e-6 ...
    st.integers(-(10**6), 10**6).map(lambda n: n / 1000 + 0.0005),
    st.integers(-(10**6), 10**6).map(lambda n: (2 * n + 1) / 200),
    st.integers(-(10**7), 10**7).map(lambda n: n * 1e-7 + 5e-7),
    st.sampled_from([0.0, -0.0, 1e16, -1e15 - 0.5, 2.675, 1.005, 0.285, 1e-7, 5e-7]),
)


def _digests(traits: dict[str, Any], digits: dict[str, int | None], rows: int) -> list[str]:
    cols = DesiredColumns([f"p{i}" for i in range(rows)], traits, digits, {}, [], [])
    return cols.digests(None)


def _expected(traits: dict[str, Any], digits: dict[str, int | None], rows: int) -> list[str]:
    # what the planner built per profile: Python values (``tolist``), cleaned one by one
    traits = {k: v.tolist() if isinstance(v, np.ndarray) else v for k, v in traits.items()}
    out = []
    for i in range(rows):
        row = {}
        for name, column in traits.items():
            value = clean(column[i], digits.get(name))
            if value is not None:
                row[name] = value
        out.append(traits_digest(row))
    return out


@settings(max_examples=300, deadline=None)
@given(
    st.lists(_FLOATS, min_size=1, max_size=40),
    st.sampled_from([None, 0, 1, 2, 3, 6]),
)
def test_float_columns_digest_as_profiles_do(values: list[float], places: int | None) -> None:
    rows = len(values)
    traits: dict[str, Any] = {
        "score": np.array(values, dtype=np.float64),
        "other": np.array(values[::-1], dtype=np.float64),
    }
    digits = {"score": places, "other": None}
    assert _digests(traits, digits, rows) == _expected(traits, digits, rows)
    cols = DesiredColumns([f"p{i}" for i in range(rows)], traits, digits, {}, [], [])
    assert [traits_digest(cols.values(i)) for i in range(rows)] == _expected(traits, digits, rows)


def test_mixed_columns_digest_as_profiles_do() -> None:
    rows = 200
    rng = np.random.default_rng(3)
    traits: dict[str, Any] = {
        "p_purchase_30d": rng.random(rows),
        "clv": np.where(rng.random(rows) < 0.1, np.nan, rng.normal(300, 200, rows)),
        "clv_tier": [
            None if i % 11 == 0 else ("low", "medium", "high")[i % 3] for i in range(rows)
        ],
        "next_order_date": [
            pd.NaT if i % 7 == 0 else pd.Timestamp("2026-01-01") + pd.Timedelta(days=i)
            for i in range(rows)
        ],
        "orders": [i % 5 for i in range(rows)],
        "label": [f'Ünïcode "{i}"' for i in range(rows)],
        "flag": [bool(i % 2) for i in range(rows)],
    }
    digits = {"p_purchase_30d": 2, "clv": 0}
    assert _digests(traits, digits, rows) == _expected(traits, digits, rows)


def test_no_traits_digest_as_an_empty_dict() -> None:
    traits: dict[str, Any] = {"a": np.array([np.nan, np.inf]), "b": [None, pd.NA]}
    assert _digests(traits, {}, 2) == [traits_digest({})] * 2
    assert _digests({}, {}, 3) == [traits_digest({})] * 3
