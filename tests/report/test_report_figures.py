"""The report's profile figures, now aggregated by DuckDB, are the ones the page showed when it
loaded the whole tables into pandas: the old computation is kept here as the oracle."""

from __future__ import annotations

import math
from datetime import datetime, timedelta

import duckdb
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from connector.report.aggregates import profile_figures, score_bins
from connector.report.history import _lift
from connector.state.runs import RunRow


def _numeric(frame: pd.DataFrame) -> list[str]:
    cols = [
        c
        for c in frame.columns
        if c != "profile_id"
        and pd.api.types.is_numeric_dtype(frame[c])
        and not pd.api.types.is_bool_dtype(frame[c])
    ]
    return cols[:10]


def _old_figures(
    con: duckdb.DuckDBPyConnection,
) -> tuple[int, dict[str, dict[str, float]], dict[str, list[int]]]:
    """What collect computed before (profiles, index per segment, histogram counts)."""
    features = con.execute("SELECT * FROM features").df()
    members = con.execute("SELECT * FROM memberships").df()
    scores = con.execute("SELECT * FROM scores").df()
    index: dict[str, dict[str, float]] = {}
    cols = _numeric(features)
    pop = features[cols].astype(float).mean()
    joined = members[~members["holdout"].astype(bool)].merge(features, on="profile_id")
    for seg, grp in joined.groupby("segment_id"):
        means = grp[cols].astype(float).mean()
        index[str(seg)] = {
            c: float(100 * means[c] / pop[c])
            for c in cols
            if pd.notna(means[c]) and pd.notna(pop[c]) and pop[c] != 0
        }
    bins: dict[str, list[int]] = {}
    for c in _numeric(scores):
        values = scores[c].dropna().astype(float).tolist()
        lo, hi = (min(values), max(values)) if values else (0.0, 1.0)
        width = (hi - lo) / 20 or 1.0
        counts = [0] * 20
        for v in values:
            counts[min(19, int((v - lo) / width))] += 1
        bins[c] = counts if values else []
    return len(features), index, bins


def _tables(rows: list[tuple[float | None, int, bool, float | None]]) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute(
        "CREATE TABLE features(profile_id VARCHAR, spend DOUBLE, orders INTEGER, "
        "vip BOOLEAN, zero DOUBLE, note VARCHAR)"
    )
    con.execute("CREATE TABLE scores(profile_id VARCHAR, clv DOUBLE, rank BIGINT)")
    con.execute("CREATE TABLE memberships(profile_id VARCHAR, segment_id VARCHAR, holdout BOOLEAN)")
    for i, (spend, orders, holdout, clv) in enumerate(rows):
        pid = f"p{i}"
        con.execute(
            "INSERT INTO features VALUES (?, ?, ?, ?, 0, 'x')", [pid, spend, orders, orders > 2]
        )
        con.execute("INSERT INTO scores VALUES (?, ?, ?)", [pid, clv, i])
        for seg in ("a", "b")[: 1 + i % 2]:
            con.execute("INSERT INTO memberships VALUES (?, ?, ?)", [pid, seg, holdout])
    return con


def _same(con: duckdb.DuckDBPyConnection) -> None:
    profiles, index, bins = _old_figures(con)
    got_profiles, _, got_index = profile_figures(con)
    assert got_profiles == profiles
    assert got_index.keys() == index.keys()
    for seg, figures in index.items():
        assert got_index[seg] == pytest.approx(figures, rel=1e-9)
    got_bins = score_bins(con)
    assert {c: list(b.counts) for c, b in got_bins.items()} == bins


def test_report_figures_match_the_pandas_computation() -> None:
    rows = [
        (10.5 * i if i % 5 else None, i % 7, i % 4 == 0, float("nan") if i % 9 == 0 else i**1.5)
        for i in range(200)
    ]
    con = _tables(rows)
    _same(con)
    profiles, pop, index = profile_figures(con)
    assert profiles == 200
    assert set(pop) == {"spend", "orders", "zero"}  # numbers only, booleans and text left out
    assert "zero" not in index["a"]  # an index against a mean of zero is not drawn
    assert math.isclose(sum(score_bins(con)["rank"].counts), 200)


@settings(max_examples=25, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.one_of(st.none(), st.floats(-1e6, 1e6)),
            st.integers(0, 50),
            st.booleans(),
            st.one_of(st.none(), st.just(float("nan")), st.floats(-1e3, 1e3)),
        ),
        min_size=1,
        max_size=40,
    )
)
def test_report_figures_match_on_any_data(
    rows: list[tuple[float | None, int, bool, float | None]],
) -> None:
    _same(_tables(rows))


def test_no_model_tables_yet() -> None:
    con = duckdb.connect()
    assert profile_figures(con) == (0, {}, {})
    assert score_bins(con) == {}


def _lift_store(order_day: int) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute(
        "CREATE TABLE activations(segment_id VARCHAR, profile_id VARCHAR, holdout BOOLEAN, "
        "run_id VARCHAR, activated_at TIMESTAMP)"
    )
    con.execute(
        "CREATE TABLE events(event_id VARCHAR, profile_id VARCHAR, type VARCHAR, "
        "occurred_at TIMESTAMP, revenue DOUBLE)"
    )
    for i in range(40):
        con.execute(
            "INSERT INTO activations VALUES ('vip', ?, ?, 'r1', '2026-01-01 20:00')",
            [f"p{i}", i % 4 == 0],
        )
        at = datetime(2026, 1, order_day, 12) + timedelta(hours=i % 3)
        con.execute(
            "INSERT INTO events VALUES (?, ?, 'order_completed', ?, ?)",
            [f"o{i}", f"p{i}", at, 10.0 + i],
        )
    return con


def test_lift_is_measured_only_where_orders_came_after_activation() -> None:
    runs = [
        RunRow(f"r{d}", f"2026-01-0{d}T00:00:00", f"2026-01-0{d}T23:00:00", "ok", False)
        for d in (4, 3, 2)
    ]
    after = _lift(_lift_store(order_day=2), runs, {"vip": "VIP"})
    assert [len(s.points) for s in after] == [3]  # one point per run since activation
    assert after[0].segment == "VIP"
    before = _lift(_lift_store(order_day=1), runs, {"vip": "VIP"})
    assert before[0].points == []
    assert before[0].note.startswith("not enough data yet")
