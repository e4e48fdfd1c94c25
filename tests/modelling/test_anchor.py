"""Calibration anchored at the scoring date (issue 16 item 2): the buyers' mean probability
equals the BG/NBD buyer share for the horizon (one logit shift: the ranking is untouched), and
the card shows
mean predicted against actual for its own backtest window."""

from __future__ import annotations

from datetime import datetime

import duckdb
import numpy as np

from connector.modelling.anchor import logit_shift_for_mean
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
    # the target is the BG/NBD buyer share at the scoring date, computed independently here
    feats = result.features
    lifetime = score_lifetime(fit_lifetime(feats), feats, ModelSettings())
    share = lifetime.loc[feats["orders"].to_numpy() > 0, "bg_p_purchase_30d"].mean()
    assert abs(share - anchor["target"]) < 1e-4
