"""History not longer than the horizon: a shorter label window mapped to the horizon, said on
the card (issue 16 item 3); backtests need rows, positives and history (before, a blend share
was once chosen from a one-day, 209-customer backtest and a short history silently fell back)."""

from __future__ import annotations

from datetime import datetime

import duckdb
import numpy as np
import pandas as pd

from connector.modelling.engine import run_models
from connector.modelling.propensity import backtest_hgb_share
from connector.modelling.settings import ModelSettings
from connector.testing.testdata import generate

AS_OF = datetime(2025, 1, 1)


def test_a_60_day_history_trains_the_90_day_churn_model_on_half_of_it() -> None:
    con = duckdb.connect()
    generate(con, n_profiles=4000, events_per_profile=6, end=AS_OF, days=60, seed=2)
    result = run_models(con, as_of=AS_OF, settings=ModelSettings(), previous=None)
    cards = {c["name"]: c for c in result.model_cards}
    churn, propensity = cards["churn_90d"], cards["purchase_propensity_30d"]
    assert "29-day label window" in churn["short_history"]  # half the 59 days of orders
    assert churn["method"].startswith("hist_gradient_boosting"), churn.get("fallback_reason")
    assert churn["training_window"]["labels_to"].startswith("2025-01-01")
    # T - 2H predates the data: nothing to stack
    assert "stacked_snapshots" not in churn["training_window"]
    assert "stacked_snapshots" not in propensity["training_window"]
    assert "short_history" not in propensity
    risk = result.scores["churn_risk"].to_numpy()
    assert np.isfinite(risk).all()
    assert 0 < risk.min() < risk.max() < 1


def test_a_backtest_on_too_few_rows_chooses_nothing() -> None:
    rows = pd.DataFrame({"a": np.arange(150.0), "tenure_days": 400.0})
    labels = (np.arange(150) % 2).astype(int)
    blend = backtest_hgb_share(
        rows, labels, rows, labels, columns=["a"], settings=ModelSettings(min_positives=10)
    )
    assert blend["hgb_share"] == 0.0
    assert "150 rows" in blend["chosen_by"]
    big = pd.DataFrame({"a": np.arange(400.0), "tenure_days": 20.0})
    y = (np.arange(400) % 2).astype(int)
    blend = backtest_hgb_share(
        big, y, big, y, columns=["a"], settings=ModelSettings(), min_history_days=90
    )
    assert "20 days of history" in blend["chosen_by"]
