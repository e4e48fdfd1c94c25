"""Digests computed column-wise (``connector.sync.digests``) equal ``traits_digest`` of each
profile's cleaned trait dict: a different text would re-send every delivered profile."""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from connector.sync.desired_columns import DesiredColumns
from connector.sync.settle import settle
from connector.sync.settle_columns import settled_digests
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


def test_only_people_with_several_addresses_have_theirs_in_the_digest() -> None:
    """The "moved" digests add the e-mail of people with more than one (one replaced upstream
    stays known), so a changed address re-sends them; everyone else's digest is as before."""
    traits: dict[str, Any] = {"tier": ["high", "low", None]}
    emails = ["a@example.com", "b@example.com", "c@example.com"]
    cols = DesiredColumns(
        ["p0", "p1", "p2"], traits, {}, {}, [], [],
        addresses=pa.array(emails), several=pa.array([False, True, True]),
    )  # fmt: skip
    assert cols.digests(None, address="moved") == [
        traits_digest({"tier": "high"}),
        traits_digest({"tier": "low", "@email": "b@example.com"}),
        traits_digest({"@email": "c@example.com"}),
    ]
    assert cols.digests(None, address="all")[0] == traits_digest(
        {"tier": "high", "@email": "a@example.com"}
    )
    assert cols.digests(None) == _expected(traits, {}, 3)


def _table(cols: DesiredColumns, rows: list[tuple[str, str, str, str]]) -> pa.Table:
    """The candidates as the planner reads them (key, the profile's row, numbers, digest)."""
    return pa.table(
        {
            "key": pa.array([r[0] for r in rows], pa.string()),
            "row_at": pa.array([cols.position[r[1]] for r in rows], pa.int64()),
            "numbers": pa.array([r[2] for r in rows], pa.string()),
            "prev": pa.array([r[3] for r in rows], pa.string()),
        }
    )


@settings(max_examples=100, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.floats(0, 1),
            st.one_of(st.none(), st.floats(0, 1), st.sampled_from([0.43, 0.44, 0.42, 0.45])),
            st.integers(0, 500),
            st.one_of(st.none(), st.integers(0, 500)),
        ),
        min_size=1,
        max_size=30,
    ),
    st.booleans(),
)
def test_settling_column_wise_is_settle_per_profile(
    rows: list[tuple[float, float | None, int, int | None]], subset: bool
) -> None:
    """``settled_digests`` keeps what ``settle`` keeps, profile by profile."""
    n = len(rows)
    traits: dict[str, Any] = {
        "p": np.array([r[0] for r in rows]),
        "clv": np.array([float(r[2]) for r in rows]),
        "tier": ["low"] * n,
    }
    cols = DesiredColumns([f"p{i}" for i in range(n)], traits, {"p": 2, "clv": 0}, {}, [], [])
    wanted = frozenset({"p", "tier"}) if subset else None
    precision = {"p": 2, "clv": 0}
    candidates = []
    for i, (_p, old_p, _c, old_c) in enumerate(rows):
        numbers = {k: v for k, v in (("p", old_p), ("clv", old_c)) if v is not None}
        delivered = {**cols.values(i), **numbers}
        candidates.append((f"t:p{i}", f"p{i}", json.dumps(numbers), traits_digest(delivered)))
    same, moved = settled_digests(cols, wanted, precision, _table(cols, candidates))
    want_same, want_moved = [], {}
    for i, (key, _pid, numbers, prev) in enumerate(candidates):
        values = {k: v for k, v in cols.values(i).items() if wanted is None or k in wanted}
        done = settle(values, numbers, precision)
        if done is values:
            continue
        if traits_digest(done) == prev:
            want_same.append(key)
        else:
            want_moved[key] = traits_digest(done)
    assert (same, moved) == (want_same, want_moved)


@settings(max_examples=100, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.one_of(
                st.floats(allow_nan=True, allow_infinity=True),
                st.integers(-(10**6), 10**6).map(lambda i: i / 200),  # halves of a unit
                st.integers(-(10**15), 10**15).map(lambda i: i / 8),  # large, with fractions
            ),
            st.one_of(
                st.none(),
                st.booleans(),
                st.integers(-(2**60), 2**60),
                st.floats(-1e18, 1e18),
                st.integers(-(10**6), 10**6).map(lambda i: i / 200),
                st.sampled_from([-2, -1.5, -1, -0.5, 0.5, 1, 1.5, 2]).map(lambda d: ("near", d)),
            ),
        ),
        min_size=1,
        max_size=25,
    ),
    st.sampled_from([0, 2, 3]),
)
def test_settling_column_wise_holds_at_edges(rows: list[tuple[float, Any]], places: int) -> None:
    """Large, negative, whole and half-unit numbers, and delivered values that are no number:
    the column-wise rule keeps exactly what ``settle`` keeps."""
    n = len(rows)
    cols = DesiredColumns(
        [f"p{i}" for i in range(n)], {"s": np.array([r[0] for r in rows])}, {"s": places},
        {}, [], [],
    )  # fmt: skip
    precision = {"s": places}
    candidates = []
    for i, (new, drawn) in enumerate(rows):
        old = drawn
        if isinstance(drawn, tuple):  # a delivered value near the new one
            old = new + drawn[1] / 10**places if math.isfinite(new) else None
        numbers = {} if old is None else {"s": old}
        candidates.append((f"t:p{i}", f"p{i}", json.dumps(numbers), "prev"))
    same, moved = settled_digests(cols, None, precision, _table(cols, candidates))
    want = {}
    for i, (key, _pid, numbers, _prev) in enumerate(candidates):
        values = cols.values(i)
        done = settle(values, numbers, precision)
        if done is not values:
            want[key] = traits_digest(done)
    assert (same, moved) == ([], want)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(st.none(), st.text(max_size=30), st.emails()), max_size=40))
def test_text_fragments_in_arrow_are_the_encoders(values: list[str | None]) -> None:
    """The address column's fragments (Arrow fast path for plain text) spell each value as the
    JSON encoder does, quotes, backslashes, control and non-ASCII characters included."""
    from connector.sync.digests import fragments, text_fragments

    assert text_fragments("@email", pa.array(values, pa.string())) == fragments(
        "@email", values, None
    )
