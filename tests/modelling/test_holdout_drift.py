"""Holdout assignment, lift report and drift."""

from __future__ import annotations

from datetime import datetime

import duckdb
import numpy as np
import pandas as pd

from connector.modelling.drift import distribution, drift_report, psi
from connector.modelling.holdout import in_holdout, segment_lift
from connector.modelling.settings import ModelSettings
from connector.testing.testdata import EVENTS_DDL

IDS = [f"profile-{i:06d}" for i in range(100_000)]


def test_holdout_share_within_one_point_on_100k() -> None:
    for seg in ("cluster-1", "tier-high", "vip-risk"):
        for share in (0.05, 0.10, 0.25):
            mask = in_holdout(IDS, seg, share=share, salt="s1")
            assert abs(mask.mean() - share) <= 0.01


def test_holdout_is_deterministic_and_salted() -> None:
    a = in_holdout(IDS[:5000], "seg", share=0.1, salt="s1")
    b = in_holdout(IDS[:5000], "seg", share=0.1, salt="s1")
    c = in_holdout(IDS[:5000], "seg", share=0.1, salt="s2")
    assert (a == b).all()
    assert (a != c).any()
    # independent of the order and company the ids come in
    alone = in_holdout([IDS[7]], "seg", share=0.1, salt="s1")
    assert alone[0] == a[7]


def test_holdouts_independent_across_segments() -> None:
    a = in_holdout(IDS, "a", share=0.1, salt="s")
    b = in_holdout(IDS, "b", share=0.1, salt="s")
    assert abs((a & b).mean() - 0.01) < 0.003


def test_segment_lift_reports_difference_with_ci() -> None:
    con = duckdb.connect()
    con.execute(EVENTS_DDL)
    rng = np.random.default_rng(0)
    ids = [f"p{i}" for i in range(4000)]
    hold = in_holdout(ids, "seg", share=0.1, salt="s")
    rows = []
    for i, pid in enumerate(ids):
        rate = 0.10 if hold[i] else 0.20
        if rng.random() < rate:
            rows.append((f"e{i}", pid, "order_completed", datetime(2025, 2, 3), 50.0))
    rows.append(("before", ids[0], "order_completed", datetime(2024, 12, 1), 999.0))
    con.executemany(
        "INSERT INTO events VALUES (?, ?, ?, ?, ?, 'EUR', NULL, 'test')", [list(r) for r in rows]
    )
    members = pd.DataFrame({"profile_id": ids, "segment_id": "seg", "holdout": hold})
    report = segment_lift(
        con, members, "seg", activated_at=datetime(2025, 1, 1), until=datetime(2025, 3, 1)
    )
    assert report["treated"]["profiles"] + report["control"]["profiles"] == 4000
    conv = report["lift"]["conversion"]
    assert conv["ci_low"] < conv["difference"] < conv["ci_high"]
    assert conv["ci_low"] > 0  # a real 10-point lift is detected
    assert report["treated"]["revenue_per_profile"] > report["control"]["revenue_per_profile"]


def test_psi_zero_for_same_and_large_for_shift() -> None:
    rng = np.random.default_rng(1)
    base = pd.Series(rng.normal(0, 1, 20_000))
    dist = distribution(base)
    assert psi(dist, pd.Series(rng.normal(0, 1, 20_000))) < 0.01
    assert psi(dist, pd.Series(rng.normal(1.0, 1, 20_000))) > 0.25


def test_drift_report_warns_or_holds_per_settings() -> None:
    rng = np.random.default_rng(2)
    before = pd.DataFrame(
        {"clv": rng.gamma(2, 10, 5000), "recency_days": rng.exponential(30, 5000)}
    )
    after = before.assign(clv=before["clv"] * 3)
    dists = {c: distribution(before[c]) for c in before}
    kw = {"score_columns": ["clv"], "previous_sizes": {"s": 100}}
    warn = drift_report(dists, after, **kw, current_sizes={"s": 100}, settings=ModelSettings())
    assert warn["status"] == "warn"
    assert not warn["hold_activation"]
    assert warn["scores"]["clv"] > 0.25
    assert warn["features"]["recency_days"] < 0.01
    held = drift_report(
        dists, after, **kw, current_sizes={"s": 30}, settings=ModelSettings(hold_on_drift=True)
    )
    assert held["status"] == "hold"
    assert held["hold_activation"]
    assert held["segments"]["s"]["change"] == -0.7
    calm = drift_report(dists, before, **kw, current_sizes={"s": 105}, settings=ModelSettings())
    assert calm["status"] == "ok"
