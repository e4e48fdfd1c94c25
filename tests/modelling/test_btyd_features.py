"""BG/NBD outputs offered to the classifiers (issue 16, rolling-origin targets): P(alive),
expected purchases within each horizon, x / T and t_x / T, each from the lifetime model fitted
at the snapshot's own cutoff, so a training snapshot never sees what happened after it."""

from __future__ import annotations

from datetime import datetime, timedelta

import duckdb
import numpy as np
import pandas as pd

from connector.modelling import training
from connector.modelling.bgnbd import expected_purchases, p_alive
from connector.modelling.features import materialise_baskets
from connector.modelling.lifetime import btyd_ratios, fit_lifetime, score_lifetime
from connector.modelling.settings import ModelSettings
from connector.modelling.stages import ModelRun, ParsedProducts
from connector.testing.testdata import generate

AS_OF = datetime(2025, 1, 1)
NEW = ("bg_p_alive", "repeat_rate", "recency_share", "bg_expected_30d", "bg_expected_90d")


def test_ratios_against_a_hand_computation() -> None:
    feats = pd.DataFrame(
        {
            "orders": [3, 1, 0, 5],
            "frequency": [2.0, 0.0, 0.0, 4.0],
            "t_x": [30.0, 0.0, 0.0, 50.0],
            "T": [120.0, 40.0, 0.0, 0.5],  # the last one bought four times within a day
        },
        index=[10, 11, 12, 13],
    )
    out = btyd_ratios(feats)
    assert list(out.index) == [10, 11, 12, 13]
    # 2 repeat purchase-days over 120 days of life; the last repeat at day 30 of 120
    np.testing.assert_allclose(out["repeat_rate"], [2 / 120, 0.0, 0.0, 4 / 1.0])
    np.testing.assert_allclose(out["recency_share"], [30 / 120, 0.0, 0.0, 1.0])


def test_score_lifetime_gives_the_bgnbd_expectation_per_horizon() -> None:
    con = duckdb.connect()
    generate(con, n_profiles=600, seed=3)
    frame = _frame(con, AS_OF)
    feats = frame[frame["orders"] > 0]
    model = fit_lifetime(frame)
    x, t_x, T = (feats[c].to_numpy(float) for c in ("frequency", "t_x", "T"))
    for h in (30, 90):
        np.testing.assert_allclose(
            feats[f"bg_expected_{h}d"], expected_purchases(model.bgnbd, x, t_x, T, h), rtol=1e-9
        )
    np.testing.assert_allclose(feats["bg_p_alive"], p_alive(model.bgnbd, x, t_x, T))
    assert (frame.loc[frame["orders"] == 0, list(NEW)] == 0).all().all()
    assert np.isfinite(frame[list(NEW)].to_numpy()).all()


def test_a_snapshot_never_sees_orders_after_its_cutoff() -> None:
    """The BTYD columns of the training snapshot at T - H come from a BG/NBD fitted on orders
    before T - H: doubling every order after it (the label window and beyond) changes none."""
    cut = AS_OF - timedelta(days=30)
    con = duckdb.connect()
    generate(con, n_profiles=800, seed=4)
    before = _frame(con, cut)
    con.execute(
        "INSERT INTO events SELECT 'again-' || event_id, profile_id, type, occurred_at, revenue,"
        " currency, properties, source FROM events WHERE occurred_at >= ?",
        [cut],
    )
    after = _frame(con, cut)
    assert con.execute("SELECT count(*) FROM events WHERE event_id LIKE 'again-%'").fetchone()
    pd.testing.assert_frame_equal(before[list(NEW)], after[list(NEW)])
    # while the snapshot at AS_OF does see them
    assert not np.allclose(_frame(con, AS_OF)["repeat_rate"].sum(), before["repeat_rate"].sum())


def _frame(con: duckdb.DuckDBPyConnection, cutoff: datetime) -> pd.DataFrame:
    """The training snapshot the classifiers stage builds at `cutoff`."""
    settings = ModelSettings()
    parsed = ParsedProducts(None, materialise_baskets(con, AS_OF, "_t_baskets"))
    run = ModelRun(con, AS_OF, settings, parsed)
    frame = training._training_frame(run, cutoff, ())
    assert {*NEW} <= set(frame.columns)
    out: pd.DataFrame = frame.sort_values("profile_id").reset_index(drop=True)
    return out


def test_score_lifetime_unchanged_for_its_existing_columns() -> None:
    """Adding horizons to the expectation grid leaves CLV and the 90-day expectation alone."""
    con = duckdb.connect()
    generate(con, n_profiles=400, seed=6)
    frame = _frame(con, AS_OF)
    model = fit_lifetime(frame)
    short = score_lifetime(model, frame, ModelSettings(propensity_horizon_days=90))
    np.testing.assert_allclose(short["clv"], frame["clv"], rtol=1e-12)
    np.testing.assert_allclose(short["expected_purchases"], frame["bg_expected_90d"], rtol=1e-12)


def test_older_snapshots_are_stacked_only_with_a_window_of_history() -> None:
    """T - 2H is stacked whenever it has buyers; T - 3H only when its oldest buyer has seen a
    whole label window (a base weeks old is no training example for today's)."""
    target = training._Target("purchase_propensity_30d", 30)

    def snap(tenure: float, n: int = 4) -> pd.DataFrame:
        return pd.DataFrame({"orders": [1] * n, "tenure_days": [tenure] * n})

    y = [np.ones(4, dtype=np.int_), np.zeros(4, dtype=np.int_), np.ones(4, dtype=np.int_)]
    rows, labels = training._stacked([snap(200), snap(10), snap(29)], y, 30, target)
    assert len(rows) == 8  # T - 2H despite its young base; not T - 3H (29 < 30 days)
    assert labels.tolist() == [1] * 4 + [0] * 4
    rows, labels = training._stacked([snap(200), snap(100), snap(30)], y, 30, target)
    assert len(rows) == 12
    # a short history (label window shorter than the horizon) stacks nothing
    rows, _ = training._stacked([snap(200), snap(100), snap(70)], y, 20, target)
    assert len(rows) == 4
