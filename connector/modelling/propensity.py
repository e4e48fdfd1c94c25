"""Purchase propensity and churn classifiers trained on a time split.

Training rows are features as of T - H with labels "bought in [T - H, T)", so no label event is
ever visible to its features; the fitted model then scores features as of T. Gradient boosting
sees the BG/NBD outputs as features (the BTYD models are hard to beat on their own, see
facts/modelling.md), and an isotonic map fitted on a separate slice calibrates its scores. Below
`min_positives` the BG/NBD probability is used instead and the model card says so.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import duckdb
import numpy as np
import numpy.typing as npt
import pandas as pd
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.isotonic import IsotonicRegression

from connector.modelling.holdout import stable_unit
from connector.modelling.metrics import card_metrics
from connector.modelling.settings import ModelSettings

BTYD_FEATURES = ("expected_purchases", "expected_spend", "clv", "days_to_next_order")


@dataclass
class PurchaseClassifier:
    """A fitted (or fallback) P(purchase within horizon) model and its card."""

    horizon_days: int
    columns: list[str]
    fallback_column: str
    model: HistGradientBoostingClassifier | None
    calibrator: IsotonicRegression | None
    fallback_rate: float  # P(first purchase) for profiles without orders, when falling back
    card: dict[str, Any]

    def predict(self, frame: pd.DataFrame) -> npt.NDArray[np.float64]:
        """Calibrated probability for each row of a feature + lifetime frame."""
        if self.model is None or self.calibrator is None:
            buyer = frame["orders"].to_numpy() > 0
            bg = frame[self.fallback_column].to_numpy(dtype=float)
            return np.where(buyer, bg, self.fallback_rate)
        raw = self.model.predict_proba(frame[self.columns].to_numpy(dtype=float))[:, 1]
        out: npt.NDArray[np.float64] = np.clip(self.calibrator.predict(raw), 0.0, 1.0)
        return out


def purchased_between(con: duckdb.DuckDBPyConnection, start: datetime, end: datetime) -> set[str]:
    """Profiles with an order in [start, end)."""
    rows = con.execute(
        """SELECT DISTINCT profile_id FROM events WHERE type = 'order_completed'
           AND occurred_at >= ? AND occurred_at < ?""",
        [start, end],
    ).fetchall()
    return {str(r[0]) for r in rows}


def train_purchase_classifier(
    train: pd.DataFrame,
    labels: npt.NDArray[np.int_],
    *,
    columns: list[str],
    horizon_days: int,
    cutoff: datetime,
    settings: ModelSettings,
    name: str,
) -> PurchaseClassifier:
    """Fit on `train` (features as of `cutoff`) against `labels` (bought in the horizon)."""
    fallback_col = f"bg_p_purchase_{horizon_days}d"
    ids = train["profile_id"].astype(str).tolist()
    u = stable_unit(ids, f"train-split-{settings.random_seed}")
    cap = settings.max_training_rows / max(len(ids), 1)
    use = u < min(cap, 1.0) if cap < 1 else np.ones(len(ids), bool)
    is_eval = (stable_unit(ids, f"eval-{settings.random_seed}") < settings.eval_share) & use
    is_fit = use & ~is_eval
    buyer = train["orders"].to_numpy() > 0
    nonbuyer_fit = is_fit & ~buyer
    fallback_rate = float(labels[nonbuyer_fit].mean()) if nonbuyer_fit.any() else 0.0
    positives, negatives = int(labels[is_fit].sum()), int((1 - labels[is_fit]).sum())
    window = {
        "features_as_of": cutoff.isoformat(),
        "labels_from": cutoff.isoformat(),
        "labels_to": (cutoff + timedelta(days=horizon_days)).isoformat(),
    }
    card: dict[str, Any] = {
        "name": name,
        "target": f"purchase within {horizon_days} days",
        "training_window": window,
        "training_rows": int(is_fit.sum()),
        "evaluation_rows": int(is_eval.sum()),
    }
    model = calibrator = None
    if min(positives, negatives) < settings.min_positives:
        card["method"] = "bgnbd_fallback"
        card["fallback_reason"] = (
            f"{positives} positives / {negatives} negatives in the training window, below "
            f"min_positives={settings.min_positives}: using the BG/NBD P(purchase within "
            f"{horizon_days}d) for buyers and the observed first-purchase rate for others"
        )
        card["features"] = [fallback_col]
        result = PurchaseClassifier(
            horizon_days, columns, fallback_col, None, None, fallback_rate, card
        )
    else:
        # Fit on 2/3 of the fit slice, calibrate on the remaining 1/3 (isotonic).
        is_cal = is_fit & (stable_unit(ids, f"calib-{settings.random_seed}") < 1 / 3)
        is_core = is_fit & ~is_cal
        x = train[columns].to_numpy(dtype=float)
        model = HistGradientBoostingClassifier(
            max_iter=120,
            learning_rate=0.08,
            max_leaf_nodes=15,
            min_samples_leaf=40,
            l2_regularization=1.0,
            early_stopping=True,
            validation_fraction=0.15,
            n_iter_no_change=15,
            random_state=settings.random_seed,
        )
        model.fit(x[is_core], labels[is_core])
        calibrator = IsotonicRegression(out_of_bounds="clip", y_min=0.0, y_max=1.0)
        calibrator.fit(model.predict_proba(x[is_cal])[:, 1], labels[is_cal])
        card["method"] = "hist_gradient_boosting+isotonic"
        card["features"] = list(columns)
        result = PurchaseClassifier(
            horizon_days, columns, fallback_col, model, calibrator, fallback_rate, card
        )
    if is_eval.any():
        card["evaluation"] = card_metrics(labels[is_eval], result.predict(train[is_eval]))
    card["positives"], card["negatives"] = positives, negatives
    return result
