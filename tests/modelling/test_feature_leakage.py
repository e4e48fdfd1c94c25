"""Features at a cutoff depend only on events before it, on every path a run takes.

A run parses product lists once, as of its own cutoff, and reuses the parsed tables for the
training cutoffs T - H and T - 2H. Before, those tables were netted at the run's cutoff: an
order placed before a training cutoff and refunded after it lost its basket (or part of its
revenue) in the training features, information from the label window leaking into training
rows; and the parsed items kept orders refunded in full, which the inline path drops.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta

import duckdb
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connector.modelling.backend import DuckBackend
from connector.modelling.features import compute_features
from connector.testing.testdata import EVENTS_DDL, PROFILES_DDL

BASE = datetime(2024, 1, 1)
AS_OF = BASE + timedelta(days=120)
CATEGORIES = ["books", "music", "toys"]


@dataclass(frozen=True)
class _Event:
    profile: str
    type: str
    day: float
    revenue: float | None = None
    order_id: str | None = None
    products: tuple[tuple[str, float], ...] = ()


def _store(events: list[_Event]) -> duckdb.DuckDBPyConnection:
    """A store of `events`; each gets its own second, so no two share a timestamp."""
    con = duckdb.connect()
    con.execute(EVENTS_DDL)
    con.execute(PROFILES_DDL)
    rows = []
    for i, e in enumerate(events):
        props: dict[str, object] = {}
        if e.order_id:
            props["order_id"] = e.order_id
        if e.products:
            props["products"] = [{"category": c, "quantity": q} for c, q in e.products]
        at = BASE + timedelta(days=e.day, seconds=i)
        rows.append(
            [f"e{i}", e.profile, e.type, at, e.revenue, json.dumps(props) if props else None]
        )
    con.executemany("INSERT INTO events VALUES (?, ?, ?, ?, ?, 'EUR', ?, 'test')", rows)
    con.execute(
        """INSERT INTO profiles SELECT profile_id, min(occurred_at), NULL, 'unknown', 'unknown',
           'unknown' FROM events GROUP BY profile_id"""
    )
    return con


def _before(con: duckdb.DuckDBPyConnection, cutoff: datetime) -> duckdb.DuckDBPyConnection:
    """A copy of the store that holds only the events before `cutoff` (profiles unchanged)."""
    past = duckdb.connect()
    past.execute(EVENTS_DDL)
    past.execute(PROFILES_DDL)
    rel = con.sql("SELECT * FROM events WHERE occurred_at < ?", params=[cutoff])
    assert rel is not None
    past.register("_src", rel.to_arrow_table())
    past.execute("INSERT INTO events SELECT * FROM _src")
    prof = con.sql("SELECT * FROM profiles")
    assert prof is not None
    past.register("_prof", prof.to_arrow_table())
    past.execute("INSERT INTO profiles SELECT * FROM _prof")
    return past


def _run_path(con: duckdb.DuckDBPyConnection, cutoff: datetime) -> pd.DataFrame:
    """Features at `cutoff` as a run computes its training frames: parsed once at AS_OF."""
    backend = DuckBackend()
    items, baskets = backend.parse_products(con, AS_OF, items=True)
    try:
        return backend.features(
            con,
            cutoff,
            categories=CATEGORIES,
            half_life_days=30.0,
            items_table=items,
            baskets_table=baskets,
        )
    finally:
        backend.drop_parsed(con)


def _assert_no_leak(events: list[_Event], cutoff: datetime) -> None:
    con = _store(events)
    seen = _run_path(con, cutoff)
    truth = compute_features(_before(con, cutoff), cutoff, categories=CATEGORIES)
    inline = compute_features(con, cutoff, categories=CATEGORIES)
    # atol: features are rounded to 6 decimals, and a float sum in another order may round
    # to the neighbouring last digit
    pd.testing.assert_frame_equal(seen, truth, check_exact=False, rtol=0, atol=2e-6)
    pd.testing.assert_frame_equal(inline, truth, check_exact=False, rtol=0, atol=2e-6)


def test_refunds_after_the_cutoff_do_not_reach_its_features() -> None:
    cutoff = BASE + timedelta(days=60)
    books, music = (("books", 2.0),), (("music", 1.0), ("toys", 3.0))
    events = [
        # a: two orders before the cutoff; the second is refunded in full after it
        _Event("a", "order_completed", 10, 100.0, "a1", books),
        _Event("a", "order_completed", 50, 80.0, "a2", music),
        _Event("a", "order_refunded", 70, None, "a2"),
        # b: an order before the cutoff, half refunded after it (its unit price at the cutoff
        # is the full one)
        _Event("b", "order_completed", 20, 60.0, "b1", music),
        _Event("b", "order_refunded", 90, 30.0, "b1"),
        # c: an order refunded in full before the cutoff: no basket and no purchased affinity
        _Event("c", "order_completed", 5, 40.0, "c1", books),
        _Event("c", "order_cancelled", 6, None, "c1"),
        _Event("c", "order_completed", 30, 25.0, "c2", music),
        # d: a return line before the cutoff that lists its products
        _Event("d", "order_completed", 15, 90.0, "d1", music),
        _Event("d", "order_completed", 40, -45.0, "d1", (("music", 1.0),)),
        _Event("d", "product_viewed", 45, None, None, books),
        # e: a return line without an order id after the cutoff
        _Event("e", "order_completed", 25, 50.0, None, books),
        _Event("e", "order_completed", 100, -50.0, None, books),
    ]
    _assert_no_leak(events, cutoff)
    f = _run_path(_store(events), cutoff).set_index("profile_id")
    assert f.loc["a", "orders"] == 2
    assert f.loc["a", "items_per_order"] == 1.5  # both baskets: the refund comes later
    assert f.loc["b", "unit_price"] == 15.0  # 60 for 4 units, not the refunded 30
    assert f.loc["c", "cat_books"] == 0.0  # the cancelled order's books are not affinity
    assert f.loc["e", "orders"] == 1


_ORDER = st.tuples(
    st.sampled_from("pqrs"),
    st.integers(0, 110),  # day
    st.one_of(st.none(), st.floats(1, 200).map(lambda x: round(x, 2))),
    st.lists(st.tuples(st.sampled_from(CATEGORIES), st.sampled_from([0.5, 1.0, 2.0])), max_size=3),
)
_REFUND = st.tuples(
    st.integers(0, 40),  # which order (modulo the count)
    st.integers(0, 60),  # days after the order
    st.sampled_from(["order_refunded", "order_cancelled", "return_line"]),
    st.one_of(st.none(), st.floats(1, 150).map(lambda x: round(x, 2))),
    st.booleans(),  # names the order
)


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    orders=st.lists(_ORDER, min_size=1, max_size=12),
    refunds=st.lists(_REFUND, max_size=8),
    views=st.lists(st.tuples(st.sampled_from("pqrs"), st.integers(0, 110)), max_size=4),
    cut_day=st.integers(1, 119),
)
def test_features_at_a_cutoff_equal_those_of_the_store_before_it(
    orders: list[tuple[str, int, float | None, list[tuple[str, float]]]],
    refunds: list[tuple[int, int, str, float | None, bool]],
    views: list[tuple[str, int]],
    cut_day: int,
) -> None:
    events = [
        _Event(pid, "order_completed", day, rev, f"o{i}", tuple(lines))
        for i, (pid, day, rev, lines) in enumerate(orders)
    ]
    for which, delay, kind, amount, named in refunds:
        pid, day, _, lines = orders[which % len(orders)]
        oid = f"o{which % len(orders)}" if named else None
        when = min(day + delay, 119)
        if kind == "return_line":
            events.append(
                _Event(pid, "order_completed", when, -(amount or 10.0), oid, tuple(lines))
            )
        else:
            events.append(_Event(pid, kind, when, amount, oid))
    events += [
        _Event(pid, "product_viewed", day, None, None, (("toys", 1.0),)) for pid, day in views
    ]
    events.sort(key=lambda e: e.day)
    _assert_no_leak(events, BASE + timedelta(days=cut_day))
