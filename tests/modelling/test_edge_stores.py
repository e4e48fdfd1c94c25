"""Twenty edge-case stores through the whole model stage (issue 16 item 7 / Done-when).

Each store goes through `run_full` twice (the second run with the first's state, as the next
scheduled run would), and the traits it would push are checked: no crash, no NaN or inf, no
negative money, no more clusters than the data can hold.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime, timedelta

import duckdb
import numpy as np
import pytest

from connector.modelling.delivery import run_full
from connector.modelling.settings import ModelSettings
from connector.testing.testdata import EVENTS_DDL, PROFILES_DDL

AS_OF = datetime(2024, 6, 1)
Row = tuple[str, str, datetime, float | None, str | None]  # profile, type, when, revenue, props
MONEY = ("aov", "clv", "expected_spend")


def _day(n: float) -> datetime:
    return AS_OF - timedelta(days=n)


def _orders(n_people: int, per: Callable[[int], list[float]], rev: float = 40.0) -> list[Row]:
    return [
        (f"p{i}", "order_completed", _day(d), rev + i % 7, None)
        for i in range(n_people)
        for d in per(i)
    ]


STORES: dict[str, list[Row]] = {
    "empty": [],
    "one profile, one order": [("a", "order_completed", _day(10), 20.0, None)],
    "one profile, many orders": _orders(1, lambda i: [5.0 * k for k in range(1, 40)]),
    "two buyers": _orders(2, lambda i: [10.0 + i, 50.0]),
    "five profiles": _orders(5, lambda i: [3.0 * i + 1, 30.0 * i + 40]),
    "all one-time buyers": _orders(300, lambda i: [1.0 + i]),
    "several orders, all on one day": _orders(200, lambda i: [3.0, 3.0, 3.0]),
    "all one-time buyers on one day": _orders(200, lambda i: [7.0]),
    "only returns": [(f"p{i}", "order_completed", _day(i + 1), -25.0, None) for i in range(50)],
    "only refunds": [
        (f"p{i}", "order_refunded", _day(i + 1), 25.0, '{"order_id": "x"}') for i in range(50)
    ],
    "orders fully refunded": _orders(100, lambda i: [20.0 + i])
    + [(f"p{i}", "order_completed", _day(10.0 + i), -500.0, None) for i in range(100)],
    "future-dated events": _orders(100, lambda i: [-30.0 - i, 20.0 + i]),
    "everything after as_of": _orders(100, lambda i: [-1.0 - i]),
    "zero revenue": _orders(150, lambda i: [2.0 + i, 60.0 + i], rev=0.0),
    "null revenue": [
        (f"p{i}", "order_completed", _day(d), None, None) for i in range(150) for d in (3, 90)
    ],
    "huge revenue": _orders(150, lambda i: [2.0 + i, 200.0 + i], rev=1e11),
    "engagement only": [(f"p{i}", "email_opened", _day(i + 1), None, None) for i in range(200)],
    "identical customers": _orders(300, lambda i: [10.0, 40.0, 70.0]),
    "stale (data ends three years ago)": _orders(300, lambda i: [1100.0 + i, 1300.0 + i]),
    "broken product lists": [
        (f"p{i}", "order_completed", _day(d), 30.0, '{"products": "nope"')
        for i in range(120)
        for d in (i + 1, 200 + i)
    ],
    "few buyers, many browsers": _orders(3, lambda i: [20.0, 120.0])
    + [(f"v{i}", "product_viewed", _day(i % 90 + 1), None, None) for i in range(400)],
}


def _store(rows: list[Row]) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute(EVENTS_DDL)
    con.execute(PROFILES_DDL)
    for i, (pid, etype, when, revenue, props) in enumerate(rows):
        con.execute(
            "INSERT INTO events VALUES (?, ?, ?, ?, ?, 'EUR', ?, 'test')",
            [f"e{i}", pid, etype, when, revenue, props],
        )
    con.execute(
        """INSERT INTO profiles SELECT profile_id, min(occurred_at), NULL, 'unknown', 'unknown',
           'unknown' FROM events GROUP BY profile_id"""
    )
    return con


def test_there_are_twenty_stores() -> None:
    assert len(STORES) >= 20


@pytest.mark.parametrize("name", list(STORES))
def test_edge_store_runs_and_pushes_only_finite_non_negative_money(name: str) -> None:
    con = _store(STORES[name])
    settings = ModelSettings()
    state = None
    for _ in range(2):  # the second run starts from the first one's state
        out, state = run_full(con, as_of=AS_OF, settings=settings, previous=state)
        pushed = [t.name for t in out.traits if t.name in out.scores.columns]
        for col in pushed:
            values = out.scores[col]
            if values.dtype.kind in "fi":
                assert np.isfinite(values.to_numpy(float)).all(), (name, col)
        for col in (c for c in MONEY if c in pushed):
            assert (out.scores[col] >= 0).all(), (name, col)
        clusters = {s.id for s in out.segments if s.kind == "cluster"}
        assert len(clusters) <= max(len(out.scores), 1), name
        json.dumps(out.model_cards, default=str, allow_nan=False)  # cards are valid JSON


def test_all_one_time_buyers_report_a_non_converged_fit() -> None:
    """Before, the placeholder fit's card said `dropout_detected: True`."""
    con = _store(STORES["all one-time buyers"])
    out, _ = run_full(con, as_of=AS_OF, settings=ModelSettings(), previous=None)
    card = next(c for c in out.model_cards if c["name"] == "lifetime_value")
    assert card["converged"]["bgnbd"] is False
    assert card["dropout_detected"] is None
    assert "placeholders" in card["fit_note"]
    names = {s.name for s in out.segments if s.kind == "cluster"}
    assert not any(n.endswith("low spenders") for n in names), names
