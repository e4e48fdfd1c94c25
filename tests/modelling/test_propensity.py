"""The blend choice: out of time, and only as much boosting as the backtest can tell apart."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from connector.modelling.propensity import (
    auc_standard_error,
    backtest_hgb_share,
    informative_columns,
    train_purchase_classifier,
)
from connector.modelling.settings import ModelSettings

COLUMNS = ["u", "v", "w"]


def _snapshot(
    rng: np.random.Generator, n: int, interaction: bool
) -> tuple[pd.DataFrame, npt.NDArray[np.int_]]:
    x = rng.lognormal(size=(n, 3))  # counts and amounts: non-negative, skewed
    z = np.log1p(x) - np.log1p(x).mean(axis=0)
    logit = 2.5 * np.sign(z[:, 0] * z[:, 1]) if interaction else 2.0 * z[:, 0] - 1.5 * z[:, 1]
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(np.int_)
    return pd.DataFrame(x, columns=COLUMNS), y


def test_auc_standard_error_matches_the_bootstrap() -> None:
    rng = np.random.default_rng(3)
    frame, y = _snapshot(rng, 1500, interaction=False)
    score = np.log1p(frame["u"].to_numpy()) + rng.normal(scale=1.5, size=len(y))
    auc = float(roc_auc_score(y, score))
    boot = []
    for _ in range(400):
        i = rng.integers(0, len(y), len(y))
        boot.append(roc_auc_score(y[i], score[i]))
    se = auc_standard_error(auc, int(y.sum()), int(len(y) - y.sum()))
    assert se == pytest.approx(float(np.std(boot)), rel=0.2)
    assert auc_standard_error(auc, 4 * int(y.sum()), 4 * int(len(y) - y.sum())) < se / 1.9


def test_linear_data_keeps_the_linear_model() -> None:
    """Trees cannot beat a linear signal beyond the noise: the simplest blend is kept."""
    rng = np.random.default_rng(1)
    earlier, ey = _snapshot(rng, 2000, interaction=False)
    later, ly = _snapshot(rng, 2000, interaction=False)
    blend = backtest_hgb_share(
        earlier, ey, later, ly, columns=COLUMNS, settings=ModelSettings(min_positives=50)
    )
    assert blend["hgb_share"] == 0.0
    assert blend["backtest_auc_se"] > 0


def test_an_interaction_the_linear_model_cannot_see_gets_the_trees() -> None:
    rng = np.random.default_rng(2)
    earlier, ey = _snapshot(rng, 6000, interaction=True)
    later, ly = _snapshot(rng, 6000, interaction=True)
    blend = backtest_hgb_share(
        earlier, ey, later, ly, columns=COLUMNS, settings=ModelSettings(min_positives=50)
    )
    aucs = {float(k): v for k, v in blend["backtest_auc"].items()}
    assert aucs[1.0] > aucs[0.0] + 0.1
    assert blend["hgb_share"] > 0


def test_columns_constant_to_relative_precision_are_not_informative() -> None:
    n = 500
    ramp = np.arange(n, dtype=float)
    frame = pd.DataFrame(
        {
            "alive": 1.0 - 1e-9 * ramp,  # 1 to eight decimals, as P(alive) at no dropout
            "constant": np.full(n, 3.0),
            "small": 1e-4 * (1 + ramp / n),  # small values, but a real spread
            "signed": ramp - n / 2,
            "missing": np.full(n, np.nan),
        }
    )
    assert informative_columns(frame, [*frame.columns, "absent"]) == ["small", "signed"]


def test_a_column_constant_but_for_its_last_bits_does_not_swamp_the_ranking() -> None:
    """Session 8's P(alive) failure (benchmarks/README.md): a column equal to 1 to six decimals
    at the training cutoff, its last bits ordered against the signal, then really varying at
    the scoring date. Standardised by its training spread it lay thousands of deviations out
    and turned AUC 0.74 into 0.36; the classifier now leaves it out."""
    rng = np.random.default_rng(4)
    n = 3000
    train, y = _snapshot(rng, n, interaction=False)
    later, ly = _snapshot(rng, n, interaction=False)
    for frame in (train, later):
        frame["profile_id"] = [f"p{i}" for i in range(n)]
        frame["orders"] = 1.0
    train["alive"] = 1.0 - 1e-9 * train["u"].rank().to_numpy()
    later["alive"] = rng.uniform(0.2, 1.0, n)  # unrelated to the label at the scoring date
    clf = train_purchase_classifier(
        train,
        y,
        columns=[*COLUMNS, "alive"],
        horizon_days=30,
        cutoff=pd.Timestamp("2024-01-01").to_pydatetime(),
        settings=ModelSettings(min_positives=50),
        name="p",
        blend={"hgb_share": 0.0, "chosen_by": "test"},
    )
    assert clf.card["features"] == COLUMNS
    assert roc_auc_score(ly, clf.predict(later)) > 0.75
