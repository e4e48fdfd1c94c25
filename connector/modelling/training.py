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

from connector.modelling.anchor import trend_factor
from connector.modelling.features import feature_columns
from connector.modelling.holdout import stable_unit
from connector.modelling.keys import row_keys, with_model_keys
from connector.modelling.lifetime import fit_lifetime, score_lifetime
from connector.modelling.orders import purchase_filter
from connector.modelling.propensity import (
    BTYD_FEATURES,
    BTYD_PREFIXES,
    PurchaseClassifier,
    backtest_hgb_share,
    purchased_between,
    train_purchase_classifier,
)
from connector.modelling.reuse import (
    as_frozen,
    frozen_classifiers,
    previous_shares,
    reusable_classifiers,
    store_basis,
)
from connector.modelling.stages import Classifiers, Features, ModelRun

__all__ = ["TRAINING_SNAPSHOTS", "classifiers_stage"]

# Snapshots stacked for training: T - H, T - 2H, ... (the second also feeds the blend backtest).
# Three were tried on the rolling-origin dev protocols and did not help (benchmarks/README.md).
TRAINING_SNAPSHOTS = 2


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
    kept = frozen_classifiers(run, (prop, churn), basis)
    return Classifiers(as_frozen(prop, kept), as_frozen(churn, kept), timings, kept)


def _train(
    run: ModelRun,
    features: Features,
    target: _Target,
    cache: dict[datetime, pd.DataFrame],
    timings: dict[str, float],
    previous_share: float | None = None,
) -> PurchaseClassifier:
    window = label_window(run, target.horizon)
    started = time.perf_counter()
    cuts, frames, snapshot_labels = _snapshots(run, features, window, cache)
    timings[f"{target.name}: training frames"] = round(time.perf_counter() - started, 3)
    ends = [run.as_of, *cuts[:-1]]
    cutoff = cuts[0]
    frame, earlier = frames[0], frames[1]
    labels, earlier_labels = snapshot_labels[0], snapshot_labels[1]
    columns = [
        *feature_columns(frame),
        *BTYD_FEATURES,
        *sorted(c for c in frame.columns if c.startswith(BTYD_PREFIXES)),
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
    train_frame, train_labels = _stacked(frames, snapshot_labels, window, target)
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
    stacked = [
        {"features_as_of": cut.isoformat(), "labels_to": end.isoformat()}
        for k, (f, cut, end) in enumerate(zip(frames, cuts, ends, strict=True))
        if k and _stackable(f, window, target, k)
    ]
    if stacked:  # say on the card which earlier snapshots were stacked
        clf.card["training_window"]["stacked_snapshots"] = stacked
    if window == target.horizon:
        _calibration_cards(run, clf, frames, snapshot_labels, cuts)
    if window < target.horizon:
        clf.card["short_history"] = (
            f"the order history is not longer than the {target.horizon}-day horizon: trained "
            f"on a {window}-day label window (half the history) and mapped to the horizon as "
            f"1 - (1 - p)^({target.horizon}/{window})"
            + ("" if clf.model else "; too few positives, so BG/NBD is used instead")
        )
    return clf


def _calibration_cards(
    run: ModelRun,
    clf: PurchaseClassifier,
    frames: list[pd.DataFrame],
    labels: list[npt.NDArray[np.int_]],
    cuts: list[datetime],
) -> None:
    """What the anchor would have predicted for each training window against what happened
    (`calibration_backtest`: the latest; `calibration_trend`: the factor the anchor applies,
    `connector.modelling.anchor.trend_factor`)."""
    column = f"bg_p_purchase_{clf.horizon_days}d"
    history = _history_days(run)
    windows: list[dict[str, Any]] = []
    for frame, y, cut, end in zip(frames, labels, cuts, [run.as_of, *cuts[:-1]], strict=True):
        buyers = frame["orders"].to_numpy() > 0
        if column not in frame.columns or not buyers.any():
            continue
        windows.append(
            {
                "window": [cut.isoformat(), end.isoformat()],
                "history_days": history - (run.as_of - cut).days,
                "buyers": int(buyers.sum()),
                "mean_predicted": float(frame.loc[buyers, column].mean()),
                "actual_rate": float(y[buyers].mean()),
            }
        )
    if not windows or windows[0]["window"][0] != cuts[0].isoformat():
        return

    def shown(w: dict[str, Any]) -> dict[str, Any]:
        return {k: round(v, 4) if isinstance(v, float) else v for k, v in w.items()}

    latest = shown(windows[0])
    del latest["history_days"]
    clf.card["calibration_backtest"] = latest
    factor, used = trend_factor(windows, clf.horizon_days)
    clf.card["calibration_trend"] = {
        "factor": round(factor, 6),
        "windows": [shown(w) for w in used],
        "rule": "exp(0.5 x mean log(actual / predicted)) over the training windows with at "
        "least two horizons of history before them; 1 without one",
    }


def _snapshots(
    run: ModelRun, features: Features, window: int, cache: dict[datetime, pd.DataFrame]
) -> tuple[list[datetime], list[pd.DataFrame], list[npt.NDArray[np.int_]]]:
    """The training snapshots' cutoffs T - H, T - 2H, ..., their frames (built once per
    cutoff, shared through `cache`) and labels (bought before the next snapshot's cutoff).
    T - H and T - 2H always (the blend backtest needs both); older ones only within history."""
    history = _history_days(run)
    count = max(2, min(TRAINING_SNAPSHOTS, (history - 1) // max(window, 1)))
    cuts = [run.as_of - timedelta(days=window * k) for k in range(1, count + 1)]
    for cut in cuts:
        if cut not in cache:
            cache[cut] = _training_frame(run, cut, features.categories)
    frames = [cache[cut] for cut in cuts]
    labels = [
        np.asarray(f["profile_id"].isin(purchased_between(run.con, cut, end)), dtype=np.int_)
        for f, cut, end in zip(frames, cuts, [run.as_of, *cuts[:-1]], strict=True)
    ]
    return cuts, frames, labels


def _stacked(
    frames: list[pd.DataFrame],
    labels: list[npt.NDArray[np.int_]],
    window: int,
    target: _Target,
) -> tuple[pd.DataFrame, npt.NDArray[np.int_]]:
    """The training rows: the snapshot at T - H and the earlier ones (T - 2H, ..., already
    built for the blend backtest), stacked. More rows, several states of the base, so the
    classifier and its Platt map see more than one window. T - 2H was chosen on the development
    protocols of benchmarks/rolling_origin.py (AUC margin and Brier both better on the CDNOW
    sample and Online Retail); a third snapshot was not (benchmarks/README.md). A profile's
    rows share its model key, so the evaluation split keeps them together and the row cap
    samples profiles, not rows. Not on short histories, where the earlier snapshots predate
    most of the data (`_stackable`)."""
    keep = [0, *(k for k in range(1, len(frames)) if _stackable(frames[k], window, target, k))]
    if len(keep) == 1:
        return frames[0], labels[0]
    stacked = pd.concat([frames[k] for k in keep], ignore_index=True)
    return stacked, np.concatenate([labels[k] for k in keep])


def _stackable(snapshot: pd.DataFrame, window: int, target: _Target, k: int) -> bool:
    """The `k`-th earlier snapshot is stacked when the history is longer than the horizon and
    the snapshot has buyers; from the third on (T - 3H, ...) its oldest buyer must also have
    seen at least one label window, so no snapshot of a base only weeks old is stacked."""
    buyers = snapshot["orders"].to_numpy() > 0
    if window != target.horizon or not buyers.any():
        return False
    return k < 2 or bool(np.nanmax(snapshot["tenure_days"].to_numpy(dtype=float)[buyers]) >= window)


def label_window(run: ModelRun, horizon: int) -> int:
    """The label window to train on: the horizon, or half the history when the history is not
    longer than the horizon (the features then still see as much history as the labels)."""
    history = _history_days(run)
    if history < 0:
        return horizon
    return horizon if history > horizon else max(history // 2, 1)


def _history_days(run: ModelRun) -> int:
    """Days from the first order to `as_of` (-1 without orders)."""
    rows = run.con.execute(
        f"SELECT min(occurred_at) FROM events WHERE {purchase_filter()} AND occurred_at < ?",
        [run.as_of],
    ).fetchall()
    first = rows[0][0] if rows else None
    return -1 if first is None else (run.as_of - first).days


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
    # Classifier training uses at most max_training_rows rows, an equal part from each of the
    # stacked snapshots (the same deterministic sample of profiles in both), so only those are
    # scored. The rolling-origin protocols (at most 23,570 customers) never reach the cap.
    share = settings.max_training_rows / TRAINING_SNAPSHOTS / max(len(feats), 1)
    if share < 1:
        keep = stable_unit(row_keys(feats), f"train-split-{settings.random_seed}")
        feats = feats[keep < share].reset_index(drop=True)
    lt = run.backend.apply(feats, partial(score_lifetime, model, settings=settings))
    return pd.concat([feats, lt], axis=1)
