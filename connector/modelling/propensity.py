"""Purchase propensity and churn classifiers trained on a time split.

Training rows are features as of T - H with labels "bought in [T - H, T)", so no label event is
ever visible to its features; the fitted model then scores features as of T. Gradient boosting
sees the BG/NBD outputs as features (the BTYD models are hard to beat on their own, see
facts/modelling.md), and a Platt map fitted on a held-out slice calibrates its scores. Below
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
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

from connector.modelling.blend import BoostedLogitBlend
from connector.modelling.frozen import FrozenBlend, FrozenPlatt, freeze_platt
from connector.modelling.holdout import stable_unit
from connector.modelling.keys import row_keys
from connector.modelling.metrics import card_metrics
from connector.modelling.orders import purchase_filter
from connector.modelling.settings import ModelSettings

_REFIT_BELOW = 50_000
BTYD_FEATURES = ("expected_purchases", "expected_spend", "clv", "days_to_next_order")
# per-horizon BG/NBD outputs the classifiers see, for both horizons
BTYD_PREFIXES: tuple[str, ...] = ("bg_p_purchase_",)


HGB_SHARES = (0.0, 0.25, 0.5, 0.75, 1.0)
EVEN_BLEND: dict[str, Any] = {"hgb_share": 0.5, "chosen_by": "default (no backtest)"}
MIN_BACKTEST_ROWS = 200


def _too_little(reason: str) -> dict[str, Any]:
    # the linear model: on small data the trees overfit (see BoostedLogitBlend)
    return {"hgb_share": 0.0, "chosen_by": f"default, no backtest: {reason}"}


def _keys(frame: pd.DataFrame) -> list[str] | None:
    """The rows' model keys, or None for a bare feature frame (tests, benchmarks)."""
    return row_keys(frame) if {"model_key", "profile_id"} & set(frame.columns) else None


def _subset(keys: list[str] | None, rows: npt.NDArray[np.bool_]) -> list[str] | None:
    return None if keys is None else [k for k, keep in zip(keys, rows, strict=True) if keep]


def backtest_hgb_share(
    earlier: pd.DataFrame,
    earlier_labels: npt.NDArray[np.int_],
    later: pd.DataFrame,
    later_labels: npt.NDArray[np.int_],
    *,
    columns: list[str],
    settings: ModelSettings,
    min_history_days: float = 0.0,
    previous_share: float | None = None,
) -> dict[str, Any]:
    """Choose the blend's boosting share out of time: fit on the snapshot one horizon before the
    training snapshot, score the training snapshot, keep the share with the best AUC.

    This is the situation the shipped model is in (trained on T - H, used at T), where trees
    that fit the training period well can rank worse than the linear model (CDNOW: the cohort
    ages, and no training row has the tenure the scored rows have). Without enough positives
    on either side, fewer than `MIN_BACKTEST_ROWS` rows, or an earlier snapshot whose oldest
    customer is younger than `min_history_days`, the linear model is kept and the card says
    why (a share was once chosen from a one-day, 209-customer backtest). `previous_share`, the
    last run's choice, is kept while it is within the same standard error of the best: shares
    that close are equally good, and a share that flips between runs moves nearly every
    profile's score (a boosting share of 1.0 then 0.0 on 1 % more data moved churn risk by
    0.08 at the median)."""
    cols = informative_columns(earlier, columns)
    positives = min(
        min(int(y.sum()), int(len(y) - y.sum())) for y in (earlier_labels, later_labels)
    )
    history = (
        float(earlier["tenure_days"].max()) if "tenure_days" in earlier and len(earlier) else 0.0
    )
    if "tenure_days" not in earlier:  # a frame without ages: nothing to check history against
        history = float("inf")
    if min(len(earlier), len(later)) < MIN_BACKTEST_ROWS:
        return _too_little(f"{min(len(earlier), len(later))} rows < {MIN_BACKTEST_ROWS}")
    if positives < settings.min_positives:
        return _too_little(f"{positives} positives < min_positives={settings.min_positives}")
    if history < min_history_days:
        return _too_little(f"{history:.0f} days of history < {min_history_days:.0f}")
    if not cols:
        return _too_little("no informative column")
    model = BoostedLogitBlend(settings.random_seed).fit(
        earlier[cols].to_numpy(dtype=float), earlier_labels, _keys(earlier)
    )
    trees, linear = model.parts(later[cols].to_numpy(dtype=float))
    aucs = {
        share: float(roc_auc_score(later_labels, share * trees + (1 - share) * linear))
        for share in HGB_SHARES
    }
    # The classic one-standard-error rule: the smallest boosting share whose AUC is within one
    # standard error of the best. The error is that of the best AUC itself (Hanley-McNeil), not
    # of the paired difference between shares, which is smaller: a deliberately conservative
    # lean towards the linear model, which extrapolates more gracefully to the later, older
    # snapshot the shipped model scores. Compared in whole millionths, so last-bit differences
    # in the scores cannot flip the choice.
    micro = {share: round(auc * 1e6) for share, auc in aucs.items()}
    top = max(aucs.values())
    se = auc_standard_error(
        top, int(later_labels.sum()), int(len(later_labels) - later_labels.sum())
    )
    floor = max(micro.values()) - round(se * 1e6)
    best = min(share for share in HGB_SHARES if micro[share] >= floor)
    kept = previous_share in micro and micro[previous_share] >= floor
    rule = "the smallest boosting share within one standard error (of the best AUC) of the best"
    if kept and previous_share is not None:
        best = previous_share
        rule = "the previous run's boosting share, still within one standard error of the best"
    return {
        "hgb_share": best,
        "chosen_by": (
            f"out-of-time backtest: fitted one horizon earlier, AUC on the next window; {rule}"
        ),
        "backtest_auc": {str(k): round(v, 4) for k, v in aucs.items()},
        "backtest_auc_se": round(se, 4),
    }


# A column whose values all agree to this relative precision is constant for the classifier.
RELATIVE_SPREAD = 1e-5


def informative_columns(frame: pd.DataFrame, columns: list[str]) -> list[str]:
    """The columns of `frame` the classifiers may use: more than one value, and a spread
    (max - min) above `RELATIVE_SPREAD` times the largest magnitude.

    A column constant but for its last bits (BG/NBD P(alive) on a fit at the no-dropout
    boundary: 1 to six decimals for everyone at Online Retail's training cutoffs) passes a
    "more than one value" test, and the linear part then standardises it by that tiny spread,
    so at the scoring date, where it really varies, it lies thousands of standard deviations
    out and swamps the ranking (AUC 0.74 to 0.36, benchmarks/README.md, session 8)."""
    out = []
    for c in columns:
        if c not in frame.columns or frame[c].nunique(dropna=True) < 2:
            continue
        values = frame[c].to_numpy(dtype=float)
        low, high = float(np.nanmin(values)), float(np.nanmax(values))
        if high - low > RELATIVE_SPREAD * max(abs(low), abs(high)):
            out.append(c)
    return out


def auc_standard_error(auc: float, positives: int, negatives: int) -> float:
    """Hanley & McNeil (1982) standard error of an AUC from its class counts."""
    q1, q2 = auc / (2 - auc), 2 * auc * auc / (1 + auc)
    var = (
        auc * (1 - auc) + (positives - 1) * (q1 - auc * auc) + (negatives - 1) * (q2 - auc * auc)
    ) / max(positives * negatives, 1)
    return float(np.sqrt(max(var, 0.0)))


class _Platt:
    """Logistic calibration on the logit of a score."""

    def __init__(self) -> None:
        self.lr = LogisticRegression(C=1e4, solver="newton-cholesky", max_iter=100, tol=1e-10)

    @staticmethod
    def _logit(p: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        q = np.clip(p, 1e-6, 1 - 1e-6)
        out: npt.NDArray[np.float64] = np.log(q / (1 - q)).reshape(-1, 1)
        return out

    def fit(self, p: npt.NDArray[np.float64], y: npt.NDArray[np.int_]) -> _Platt:
        if len(set(y.tolist())) < 2:  # nothing to calibrate against: identity map
            self.lr = LogisticRegression().fit([[-1.0], [1.0]], [0, 1])
            return self
        self.lr.fit(self._logit(p), y)
        return self

    def predict(self, p: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        out: npt.NDArray[np.float64] = self.lr.predict_proba(self._logit(p))[:, 1]
        return out

    def freeze(self) -> dict[str, float]:
        return freeze_platt(self.lr)


@dataclass
class PurchaseClassifier:
    """A fitted (or fallback) P(purchase within horizon) model and its card."""

    horizon_days: int
    columns: list[str]
    fallback_column: str
    model: BoostedLogitBlend | FrozenBlend | None
    calibrator: _Platt | FrozenPlatt | None
    fallback_rate: float  # P(first purchase) for profiles without orders, when falling back
    card: dict[str, Any]
    # trained on a shorter label window than the horizon (short history): p_H = 1 - (1 - p)^s
    horizon_scale: float = 1.0
    # logit shift of buyers that anchors their mean at scoring time (connector.modelling.anchor)
    logit_shift: float = 0.0

    def predict(self, frame: pd.DataFrame) -> npt.NDArray[np.float64]:
        """Calibrated probability for each row of a feature + lifetime frame."""
        if self.model is None or self.calibrator is None:
            buyer = frame["orders"].to_numpy() > 0
            bg = frame[self.fallback_column].to_numpy(dtype=float)
            return np.where(buyer, bg, self.fallback_rate)
        return self.anchored(self.uncalibrated_horizon(frame), frame["orders"].to_numpy() > 0)

    def anchored(
        self, uncalibrated: npt.NDArray[np.float64], buyer: npt.NDArray[np.bool_]
    ) -> npt.NDArray[np.float64]:
        """`predict` from `uncalibrated_horizon`'s output: the anchor shift on buyers, rounded
        (element-wise, so the scores stage computes the model's pass once for both)."""
        out = np.clip(uncalibrated, 1e-9, 1 - 1e-9)
        if self.logit_shift:  # the anchor moves buyers only (connector.modelling.anchor)
            shifted = 1.0 / (1.0 + np.exp(-(np.log(out / (1 - out)) + self.logit_shift)))
            out = np.where(buyer, shifted, out)
        rounded: npt.NDArray[np.float64] = np.round(np.clip(out, 0.0, 1.0), 6).astype(float)
        return rounded

    def uncalibrated_horizon(self, frame: pd.DataFrame) -> npt.NDArray[np.float64]:
        """The Platt-calibrated probability over the horizon, before the anchor shift."""
        if self.model is None or self.calibrator is None:
            raise ValueError("a fallback classifier has no trained probability")
        raw = self.model.score(frame[self.columns].to_numpy(dtype=float))
        out: npt.NDArray[np.float64] = np.clip(self.calibrator.predict(raw), 0.0, 1.0)
        if self.horizon_scale != 1.0:
            out = 1.0 - (1.0 - out) ** self.horizon_scale
        return out


def purchased_between(con: duckdb.DuckDBPyConnection, start: datetime, end: datetime) -> set[str]:
    """Profiles with an order in [start, end)."""
    rows = con.execute(
        f"""SELECT DISTINCT profile_id FROM events WHERE {purchase_filter()}
           AND occurred_at >= ? AND occurred_at < ?""",
        [start, end],
    ).fetchall()
    return {str(r[0]) for r in rows}


@dataclass(frozen=True, slots=True)
class _Split:
    """Which training rows are used at all (the deterministic cap), fitted on, or held out."""

    use: npt.NDArray[np.bool_]
    fit: npt.NDArray[np.bool_]
    held_out: npt.NDArray[np.bool_]


def _split(ids: list[str], settings: ModelSettings) -> _Split:
    cap = settings.max_training_rows / max(len(ids), 1)
    if cap < 1:  # deterministic sample; the training stage pre-samples with the same rule
        use = stable_unit(ids, f"train-split-{settings.random_seed}") < cap
    else:
        use = np.ones(len(ids), bool)
    is_eval = (stable_unit(ids, f"eval-{settings.random_seed}") < settings.eval_share) & use
    return _Split(use, use & ~is_eval, is_eval)


def train_purchase_classifier(
    train: pd.DataFrame,
    labels: npt.NDArray[np.int_],
    *,
    columns: list[str],
    horizon_days: int,
    cutoff: datetime,
    settings: ModelSettings,
    name: str,
    blend: dict[str, Any] | None = None,
    label_days: int | None = None,
) -> PurchaseClassifier:
    """Fit on `train` (features as of `cutoff`) against `labels` (bought in the horizon, or in
    `label_days` when the history is too short for the horizon: the probability is then mapped
    to the horizon); `blend` is `backtest_hgb_share`'s choice (an even blend without it)."""
    label_days = label_days or horizon_days
    fallback_col = f"bg_p_purchase_{horizon_days}d"
    split = _split(row_keys(train), settings)
    is_fit, is_eval = split.fit, split.held_out
    buyer = train["orders"].to_numpy() > 0
    nonbuyer_fit = is_fit & ~buyer
    fallback_rate = float(labels[nonbuyer_fit].mean()) if nonbuyer_fit.any() else 0.0
    positives, negatives = int(labels[is_fit].sum()), int((1 - labels[is_fit]).sum())
    window = {
        "features_as_of": cutoff.isoformat(),
        "labels_from": cutoff.isoformat(),
        "labels_to": (cutoff + timedelta(days=label_days)).isoformat(),
    }
    card: dict[str, Any] = {
        "name": name,
        "target": f"purchase within {horizon_days} days",
        "training_window": window,
        "training_rows": int(is_fit.sum()),
        "evaluation_rows": int(is_eval.sum()),
    }
    if min(positives, negatives) >= settings.min_positives:
        model, calibrator, columns = _fit_blend(
            train, labels, columns, split, settings, blend or dict(EVEN_BLEND), card
        )
        card["positives"], card["negatives"] = positives, negatives
        return PurchaseClassifier(
            horizon_days,
            columns,
            fallback_col,
            model,
            calibrator,
            fallback_rate,
            card,
            horizon_scale=horizon_days / label_days,
        )
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
    if is_eval.any():
        card["evaluation"] = card_metrics(labels[is_eval], result.predict(train[is_eval]))
    card["positives"], card["negatives"] = positives, negatives
    return result


def _fit_blend(
    train: pd.DataFrame,
    labels: npt.NDArray[np.int_],
    columns: list[str],
    split: _Split,
    settings: ModelSettings,
    blend: dict[str, Any],
    card: dict[str, Any],
) -> tuple[BoostedLogitBlend, _Platt, list[str]]:
    """The blend and its Platt calibration; fills the card's evaluation, method and features."""
    # Constant or all-missing columns carry nothing (and break sklearn's binning when all
    # values are NaN, e.g. engagement ages in a store with orders only).
    columns = informative_columns(train.loc[split.fit], columns)
    x = train[columns].to_numpy(dtype=float)
    share = float(blend["hgb_share"])
    keys = _keys(train)
    first = BoostedLogitBlend(settings.random_seed, share).fit(
        x[split.fit], labels[split.fit], _subset(keys, split.fit)
    )
    # Platt scaling on the held-out slice: monotone, so it keeps the ranking (isotonic
    # steps create ties that cost AUC on small shops); two parameters barely overfit.
    held = split.held_out
    usable = held.sum() >= 20 and 0 < labels[held].sum() < held.sum()
    cal = held if usable else split.fit
    calibrator = _Platt().fit(first.score(x[cal]), labels[cal])
    card["evaluation"] = card_metrics(labels[cal], calibrator.predict(first.score(x[cal])))
    card["evaluation_note"] = (
        "held-out profiles, model fitted without them; below 50,000 training rows the "
        "shipped model is refitted on all rows with the same calibration"
    )
    # Refit on every row when the held-out slice is a real loss of data (small shops);
    # above _REFIT_BELOW rows the first model is already as good and refitting costs time.
    use = split.use
    if use.sum() < _REFIT_BELOW:
        model = BoostedLogitBlend(settings.random_seed, share).fit(
            x[use], labels[use], _subset(keys, use)
        )
    else:
        model = first
    card["method"] = "hist_gradient_boosting+logistic blend, Platt calibration"
    card["blend"] = blend
    card["features"] = list(columns)
    return model, calibrator, columns
