"""Returns, refunds and cancellations net against their order (issue 16 item 5).

Before, a negative-revenue line counted as a purchase and gave 50 Online Retail customers a
negative average order value, which was pushed as a trait; refund events did not exist.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest

from connector.modelling.features import compute_features
from connector.modelling.lifetime import fit_lifetime, score_lifetime
from connector.modelling.orders import netted_events_sql
from connector.modelling.settings import ModelSettings
from connector.schema.records import EVENT_TYPES, validate_event
from connector.testing.testdata import (
    EVENTS_DDL,
    PROFILES_DDL,
    load_transactions,
    read_online_retail,
)

CUTOFF = datetime(2024, 6, 1)


def _store(rows: list[tuple[str, str, str, float | None, str | None]]) -> duckdb.DuckDBPyConnection:
    """rows: (profile, type, day, revenue, order_id)."""
    con = duckdb.connect()
    con.execute(EVENTS_DDL)
    con.execute(PROFILES_DDL)
    for i, (pid, etype, day, revenue, oid) in enumerate(rows):
        props = json.dumps({"order_id": oid}) if oid else None
        con.execute(
            "INSERT INTO events VALUES (?, ?, ?, ?, ?, 'EUR', ?, 'test')",
            [f"e{i}", pid, etype, datetime.fromisoformat(day), revenue, props],
        )
    con.execute(
        """INSERT INTO profiles SELECT profile_id, min(occurred_at), NULL, 'unknown', 'unknown',
           'unknown' FROM events GROUP BY profile_id"""
    )
    return con


def _row(frame: pd.DataFrame, pid: str) -> pd.Series:
    return frame.set_index("profile_id").loc[pid]


def test_refund_and_cancellation_events_are_canonical() -> None:
    assert {"order_refunded", "order_cancelled"} <= EVENT_TYPES
    rec = validate_event(
        {
            "source_event_id": "r1",
            "type": "order_refunded",
            "occurred_at": "2024-01-02T00:00:00Z",
            "email": "a@example.org",
            "revenue": 12.5,
            "properties": {"order_id": "o1"},
        },
        source="klaviyo",
        region="GB",
    )
    assert rec.type == "order_refunded"


def test_refunds_net_against_the_order_they_name() -> None:
    con = _store(
        [
            # a: two orders, the second partly refunded by id
            ("a", "order_completed", "2024-01-01", 100.0, "a1"),
            ("a", "order_completed", "2024-03-01", 50.0, "a2"),
            ("a", "order_refunded", "2024-03-05", 20.0, "a2"),
            # b: one order cancelled whole (no amount): b never bought
            ("b", "order_completed", "2024-02-01", 80.0, "b1"),
            ("b", "order_cancelled", "2024-02-02", None, "b1"),
            # c: a return line (negative order) without an id: nets against the latest order
            ("c", "order_completed", "2024-01-10", 30.0, None),
            ("c", "order_completed", "2024-02-10", 40.0, None),
            ("c", "order_completed", "2024-02-20", -40.0, None),
            # d: a return larger than the order: revenue floors at 0, the order is gone
            ("d", "order_completed", "2024-01-10", 25.0, "d1"),
            ("d", "order_completed", "2024-05-10", 60.0, "d2"),
            ("d", "order_completed", "2024-05-11", -90.0, "d2"),
            # e: refunded after the cutoff: not visible yet
            ("e", "order_completed", "2024-05-01", 70.0, "e1"),
            ("e", "order_refunded", "2024-07-01", 70.0, "e1"),
        ]
    )
    f = compute_features(con, CUTOFF, categories=[])
    a, b, c, d, e = (_row(f, p) for p in "abcde")
    assert (a["orders"], a["revenue_total"], a["aov"]) == (2, 130.0, 65.0)
    assert a["monetary"] == 30.0  # the repeat order, net of its refund
    assert (b["orders"], b["revenue_total"], b["aov"]) == (0, 0.0, 0.0)
    assert (c["orders"], c["revenue_total"], c["frequency"]) == (1, 30.0, 0)
    assert (d["orders"], d["revenue_total"]) == (1, 25.0)
    assert (e["orders"], e["revenue_total"]) == (1, 70.0)
    assert (f[["aov", "monetary", "revenue_total", "revenue_365d"]] >= 0).all().all()


def _online_retail() -> Path:
    from tests.modelling.conftest import DATA

    path = DATA / "online_retail" / "online_retail.csv.gz"
    if not path.exists():
        pytest.skip(f"Online Retail data not found at {path}; skipping")
    return path


def test_online_retail_returns_never_make_money_negative() -> None:
    tx = read_online_retail(_online_retail(), returns=True)
    assert (tx["revenue"] < 0).sum() > 3000, "the cancelled invoices are in the input"
    con = duckdb.connect()
    load_transactions(con, tx)
    f = compute_features(con, datetime(2011, 12, 10), categories=[])
    money = ["aov", "monetary", "revenue_total", "revenue_30d", "revenue_90d", "revenue_365d"]
    assert (f[money] >= 0).all().all(), (f[money] < 0).sum().to_dict()
    assert (f["unit_price"].dropna() >= 0).all()
    # a cancelled invoice is no purchase: fewer orders than positive invoices
    assert f["orders"].sum() < (tx["revenue"] > 0).sum()
    scored = score_lifetime(fit_lifetime(f), f, ModelSettings())
    for col in ("clv", "expected_spend"):
        assert np.isfinite(scored[col]).all()
        assert (scored[col] >= 0).all()


def test_a_return_without_order_id_matches_the_same_order_whatever_the_row_order() -> None:
    """Two orders at one moment and a return naming neither: the return nets the one with the
    greater event id, read in either order (before, the scan order chose)."""

    def netted(rows: list[tuple[str, float]]) -> list[tuple[str, float]]:
        con = duckdb.connect()
        con.execute(EVENTS_DDL)
        for eid, revenue in rows:
            at = "2024-01-02" if revenue < 0 else "2024-01-01"
            con.execute(
                "INSERT INTO events VALUES (?, 'p', 'order_completed', ?, ?, 'EUR', NULL, 'test')",
                [eid, datetime.fromisoformat(at), revenue],
            )
        sql = f"SELECT event_id, revenue FROM ({netted_events_sql('$1::TIMESTAMP')}) ORDER BY 1"
        return [(str(e), float(r)) for e, r in con.execute(sql, [CUTOFF]).fetchall()]

    orders = [("e_a", 40.0), ("e_b", 40.0), ("e_r", -10.0)]
    assert netted(orders) == netted(orders[::-1]) == [("e_a", 40.0), ("e_b", 30.0)]
