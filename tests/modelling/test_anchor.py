"""Calibration anchored at the scoring date (issue 16 item 2): the buyers' mean probability
equals the BG/NBD buyer share for the horizon, moved by the trend of the training windows (one
logit shift: the ranking is untouched), and the card shows mean predicted against actual for
its own backtest windows."""

from __future__ import annotations

from datetime import datetime

import duckdb
import numpy as np
import pytest

from connector.modelling.anchor import TREND_LIMITS, logit_shift_for_mean, trend_factor
from connector.modelling.engine import run_models
from connector.modelling.lifetime import fit_lifetime, score_lifetime
from connector.modelling.settings import ModelSettings
from connector.testing.testdata import generate


def test_logit_shift_reaches_the_target_mean() -> None:
    p = np.random.default_rng(0).beta(1, 6, 5000)
    for target in (0.02, 0.1, 0.5, 0.9):
        s = logit_shift_for_mean(p, target)
        shifted = 1 / (1 + np.exp(-(np.log(p / (1 - p)) + s)))
        assert abs(shifted.mean() - target) < 1e-6


def test_scores_are_anchored_and_the_card_says_so() -> None:
    con = duckdb.connect()
    generate(con, n_profiles=3000, events_per_profile=6, end=datetime(2025, 1, 1), seed=4)
    result = run_models(con, as_of=datetime(2025, 1, 1), settings=ModelSettings(), previous=None)
    card = next(c for c in result.model_cards if c["name"] == "purchase_propensity_30d")
    anchor = card["calibration_anchor"]
    scores = result.scores.merge(result.features[["profile_id", "orders"]], on="profile_id")
    buyers = scores[scores["orders"] > 0]
    assert abs(buyers["p_purchase_30d"].mean() - anchor["target"]) < 1e-3
    backtest = card["calibration_backtest"]
    assert {"mean_predicted", "actual_rate", "buyers"} <= set(backtest)
    # the trend factor comes from the training windows the card lists (rounded there)
    trend = card["calibration_trend"]
    assert len(trend["windows"]) == 2
    ratios = [w["actual_rate"] / w["mean_predicted"] for w in trend["windows"]]
    assert trend["factor"] == pytest.approx(np.exp(0.5 * np.mean(np.log(ratios))), rel=1e-3)
    assert trend["factor"] != pytest.approx(1.0, abs=1e-3)
    # the target is the BG/NBD buyer share at the scoring date, computed independently here,
    # times that factor
    feats = result.features
    lifetime = score_lifetime(fit_lifetime(feats), feats, ModelSettings())
    share = lifetime.loc[feats["orders"].to_numpy() > 0, "bg_p_purchase_30d"].mean()
    assert abs(share - anchor["bgnbd_share"]) < 1e-4
    assert abs(share * trend["factor"] - anchor["target"]) < 1e-4


def _window(history: int, predicted: float, actual: float) -> dict[str, float]:
    return {"history_days": history, "mean_predicted": predicted, "actual_rate": actual}


def test_the_trend_factor_is_half_the_log_ratio_of_windows_with_history() -> None:
    """Buyers bought 1.21 times as often as BG/NBD said on both old-enough windows: the share is
    raised by sqrt(1.21) = 1.1. A window with less than two horizons of history before it (a
    base only weeks old: Online Retail's ratio of 3.0) is left out; none left: no trend."""
    old = [_window(120, 0.2, 0.242), _window(90, 0.3, 0.363)]
    factor, used = trend_factor([*old, _window(59, 0.1, 0.3)], horizon=30)
    assert factor == pytest.approx(1.1)
    assert used == old
    assert trend_factor([_window(59, 0.1, 0.3)], horizon=30) == (1.0, [])
    assert trend_factor([_window(90, 0.3, 0.0)], horizon=30) == (1.0, [])
    assert trend_factor([_window(90, 0.1, 0.9)], horizon=30)[0] == TREND_LIMITS[1]
    assert trend_factor([_window(90, 0.9, 0.1)], horizon=30)[0] == TREND_LIMITS[0]
