"""The classifiers stage of the full engine: propensity and churn trained on time splits.

Each classifier trains on features as of T - H with labels from [T - H, T), stacked with the
snapshot one horizon earlier (T - 2H, labels [T - 2H, T - H)); its blend is chosen by a fit on
that earlier snapshot alone scored on T - H. The training frames are cached per cutoff, so
equal horizons share them.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from connector.modelling.features import feature_columns
from connector.modelling.holdout import stable_unit
from connector.modelling.keys import row_keys, with_model_keys
from connector.modelling.lifetime import fit_lifetime, score_lifetime
from connector.modelling.orders import purchase_filter
from connector.modelling.propensity import (
    BTYD_FEATURES,
    PurchaseClassifier,
    backtest_hgb_share,
    purchased_between,
    train_purchase_classifier,
)
from connector.modelling.reuse import (
    frozen_classifiers,
    previous_shares,
    reusable_classifiers,
    store_basis,
)
from connector.modelling.stages import Classifiers, Features, ModelRun

__all__ = ["classifiers_stage"]


@dataclass(frozen=True, slots=True)
class _Target:
    """One classifier to train: its name and horizon in days."""

    name: str
    horizon: int


def classifiers_stage(
    run: ModelRun,
    features: Features,
    previous: Mapping[str, Any] | None = None,
    basis: Mapping[str, float] | None = None,
) -> Classifiers:
    """Propensity (P(purchase within hp)) and churn (1 - P(purchase within hc)) models;
    `previous` is the last run's frozen classifiers (`connector.modelling.reuse`), scored with
    again while the day and the store stay nearly the same."""
    cache: dict[datetime, pd.DataFrame] = {}
    timings: dict[str, float] = {}
    hp, hc = run.settings.propensity_horizon_days, run.settings.churn_horizon_days
    targets = (_Target(f"purchase_propensity_{hp}d", hp), _Target(f"churn_{hc}d", hc))
    basis = basis or store_basis(run)
    reused = reusable_classifiers(run, previous, basis)
    if reused is not None and all(t.name in reused for t in targets):
        prop, churn = (reused[t.name] for t in targets)
        return Classifiers(prop, churn, {"reused": 0.0}, dict(previous or {}))
    shares = previous_shares(previous)
    prop, churn = (_train(run, features, t, cache, timings, shares.get(t.name)) for t in targets)
    churn.card["target"] = f"no purchase within {hc} days (churn_risk = 1 - P(purchase))"
    return Classifiers(prop, churn, timings, frozen_classifiers(run, (prop, churn), basis))


def _train(
    run: ModelRun,
    features: Features,
    target: _Target,
    cache: dict[datetime, pd.DataFrame],
    timings: dict[str, float],
    previous_share: float | None = None,
) -> PurchaseClassifier:
    window = label_window(run, target.horizon)
    cutoff = run.as_of - timedelta(days=window)
    earlier_cut = cutoff - timedelta(days=window)
    started = time.perf_counter()
    for cut in (cutoff, earlier_cut):
        if cut not in cache:
            cache[cut] = _training_frame(run, cut, features.categories)
    timings[f"{target.name}: training frames"] = round(time.perf_counter() - started, 3)
    frame, earlier = cache[cutoff], cache[earlier_cut]
    con = run.con
    labels = np.asarray(
        frame["profile_id"].isin(purchased_between(con, cutoff, run.as_of)), dtype=np.int_
    )
    earlier_labels = np.asarray(
        earlier["profile_id"].isin(purchased_between(con, earlier_cut, cutoff)), dtype=np.int_
    )
    columns = [
        *feature_columns(frame),
        *BTYD_FEATURES,
        *sorted(c for c in frame.columns if c.startswith("bg_p_purchase_")),
    ]
    started = time.perf_counter()
    blend = backtest_hgb_share(
        earlier,
        earlier_labels,
        frame,
        labels,
        columns=columns,
        settings=run.settings,
        min_history_days=window,
        previous_share=previous_share,
    )
    timings[f"{target.name}: blend backtest"] = round(time.perf_counter() - started, 3)
    train_frame, train_labels = _stacked(frame, labels, earlier, earlier_labels, window, target)
    clf = train_purchase_classifier(
        train_frame,
        train_labels,
        columns=columns,
        horizon_days=target.horizon,
        cutoff=cutoff,
        settings=run.settings,
        name=target.name,
        blend=blend,
        label_days=window,
    )
    if len(train_frame) > len(frame):  # say on the card that a second snapshot was stacked
        clf.card["training_window"]["stacked_snapshot"] = {
            "features_as_of": earlier_cut.isoformat(),
            "labels_to": cutoff.isoformat(),
        }
    bg_column = f"bg_p_purchase_{target.horizon}d"
    buyers = frame["orders"].to_numpy() > 0
    if window == target.horizon and bg_column in frame.columns and buyers.any():
        # what the anchor would have predicted for the training window, against what happened
        clf.card["calibration_backtest"] = {
            "window": [cutoff.isoformat(), run.as_of.isoformat()],
            "buyers": int(buyers.sum()),
            "mean_predicted": round(float(frame.loc[buyers, bg_column].mean()), 4),
            "actual_rate": round(float(labels[buyers].mean()), 4),
        }
    if window < target.horizon:
        clf.card["short_history"] = (
            f"the order history is not longer than the {target.horizon}-day horizon: trained "
            f"on a {window}-day label window (half the history) and mapped to the horizon as "
            f"1 - (1 - p)^({target.horizon}/{window})"
            + ("" if clf.model else "; too few positives, so BG/NBD is used instead")
        )
    return clf


def _stacked(
    frame: pd.DataFrame,
    labels: npt.NDArray[np.int_],
    earlier: pd.DataFrame,
    earlier_labels: npt.NDArray[np.int_],
    window: int,
    target: _Target,
) -> tuple[pd.DataFrame, npt.NDArray[np.int_]]:
    """The training rows: the snapshot at T - H and the one at T - 2H (already built for the
    blend backtest), stacked. Twice the rows, two states of the base, so the classifier and its
    Platt map see more than one window; chosen on the development protocols of
    benchmarks/rolling_origin.py (AUC margin and Brier both better on the CDNOW sample and
    Online Retail). A profile's two rows share its model key, so the evaluation split keeps
    them together and the row cap samples profiles, not rows. Not on short histories, where the
    earlier snapshot predates most of the data."""
    if window != target.horizon or not (earlier["orders"].to_numpy() > 0).any():
        return frame, labels
    stacked = pd.concat([frame, earlier], ignore_index=True)
    return stacked, np.concatenate([labels, earlier_labels])


def label_window(run: ModelRun, horizon: int) -> int:
    """The label window to train on: the horizon, or half the history when the history is not
    longer than the horizon (the features then still see as much history as the labels)."""
    rows = run.con.execute(
        f"SELECT min(occurred_at) FROM events WHERE {purchase_filter()} AND occurred_at < ?",
        [run.as_of],
    ).fetchall()
    first = rows[0][0] if rows else None
    if first is None:
        return horizon
    history = (run.as_of - first).days
    return horizon if history > horizon else max(history // 2, 1)


def _training_frame(run: ModelRun, cutoff: datetime, categories: tuple[str, ...]) -> pd.DataFrame:
    settings = run.settings
    feats = run.backend.features(
        run.con,
        cutoff,
        categories=list(categories),
        half_life_days=settings.engagement_half_life_days,
        items_table=run.parsed.items,
        baskets_table=run.parsed.baskets,
    )
    feats = with_model_keys(run.con, feats)
    model = fit_lifetime(feats)  # on every buyer: the BTYD parameters need the whole base
    # Classifier training uses at most max_training_rows rows, half from each of the two
    # stacked snapshots (the same deterministic sample of profiles in both), so only those are
    # scored. The rolling-origin protocols (at most 23,570 customers) never reach the cap.
    share = settings.max_training_rows / 2 / max(len(feats), 1)
    if share < 1:
        keep = stable_unit(row_keys(feats), f"train-split-{settings.random_seed}")
        feats = feats[keep < share].reset_index(drop=True)
    lt = run.backend.apply(feats, partial(score_lifetime, model, settings=settings))
    return pd.concat([feats, lt], axis=1)
