"""Scoring with the last run's classifiers while the day and the store stay nearly the same.

Refitting the propensity and churn classifiers on a store where 1 % of the profiles changed
moved churn risk past its delivered precision for most unchanged profiles (the trees split
elsewhere, coefficients move by their estimation noise), so the 1 %-change run re-sent nearly
every profile. A run with the same `as_of` and settings as the run that fitted the classifiers,
on a store whose profiles, orders and order revenue before `as_of` each changed by less than
`RETRAIN_CHANGE`, scores with those classifiers (frozen as plain numbers in the model state,
`connector.modelling.frozen`): an unchanged profile keeps its score, a changed one is scored by
the same model, and the model card says it was reused. A new day, new settings or a larger
change refits. The lifetime model (BG/NBD, Gamma-Gamma) follows the same rule: refitted on 1 %
more orders it moved every expected next order date by a day, and its outputs are the
classifiers' inputs.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

import pydantic_core
import sklearn

from connector.modelling.bgnbd import BgNbdParams
from connector.modelling.frozen import FrozenBlend, FrozenPlatt
from connector.modelling.gammagamma import GammaGammaParams
from connector.modelling.lifetime import LifetimeModel
from connector.modelling.orders import purchase_filter
from connector.modelling.propensity import PurchaseClassifier
from connector.modelling.stages import ModelRun

__all__ = [
    "RETRAIN_CHANGE",
    "as_frozen",
    "frozen_classifiers",
    "previous_shares",
    "reusable_classifiers",
    "reusable_lifetime",
    "store_basis",
    "with_anchors",
]

RETRAIN_CHANGE = 0.05
_FORMAT = 1  # bump when the frozen layout changes, so an older state refits instead


def store_basis(run: ModelRun) -> dict[str, float]:
    """What the classifiers were fitted on, in three numbers: profiles, orders, order revenue
    before `as_of`."""
    profiles = run.con.execute("SELECT count(*) FROM profiles").fetchall()[0][0]
    orders, revenue = run.con.execute(
        f"""SELECT count(*), coalesce(sum(abs(coalesce(revenue, 0))), 0) FROM events
            WHERE {purchase_filter()} AND occurred_at < ?""",
        [run.as_of],
    ).fetchall()[0]
    return {"profiles": float(profiles), "orders": float(orders), "revenue": float(revenue)}


def _fit_key(run: ModelRun) -> str:
    """The day, the settings, the frozen format and scikit-learn's version (the trees are read
    from its fitted estimators): a fit is reused only while all four hold."""
    blob = (
        f"{_FORMAT}|{sklearn.__version__}|{run.as_of.isoformat()}|{run.settings.model_dump_json()}"
    )
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def _change(before: Mapping[str, float], now: Mapping[str, float]) -> float:
    """The largest relative change of the three basis numbers."""
    return max(abs(now[k] - before[k]) / max(abs(before[k]), 1.0) for k in now)


def frozen_classifiers(
    run: ModelRun, classifiers: tuple[PurchaseClassifier, ...], basis: Mapping[str, Any]
) -> dict[str, Any]:
    """The model state's entry: the classifiers as numbers, with what they were fitted on."""
    models = {}
    for clf in classifiers:
        if clf.model is None or clf.calibrator is None:
            return {}  # a fallback has nothing to keep: the next run decides afresh
        try:
            model = clf.model.freeze()
        except (AttributeError, KeyError, TypeError, ValueError):
            # a scikit-learn whose fitted trees are laid out otherwise: nothing is kept, and
            # the next run refits (slower, never wrong)
            return {}
        models[str(clf.card["name"])] = {
            "horizon_days": clf.horizon_days,
            "columns": clf.columns,
            "fallback_column": clf.fallback_column,
            "fallback_rate": clf.fallback_rate,
            "horizon_scale": clf.horizon_scale,
            "model": model,
            "calibrator": clf.calibrator.freeze(),
            "card": {k: v for k, v in clf.card.items() if k != "calibration_anchor"},
        }
    return {"fit_key": _fit_key(run), "basis": dict(basis), "models": models}


def previous_shares(previous: Mapping[str, Any] | None) -> dict[str, float]:
    """The boosting share each frozen classifier's backtest chose, by model name."""
    out = {}
    for name, frozen in (previous or {}).get("models", {}).items():
        blend = frozen["card"].get("blend", {})
        if "backtest_auc" in blend:
            out[str(name)] = float(blend["hgb_share"])
    return out


def _reusable_change(
    run: ModelRun, previous: Mapping[str, Any] | None, basis: Mapping[str, float]
) -> float | None:
    """How much the store changed since the previous fit, when its models may be reused."""
    if not previous or previous.get("fit_key") != _fit_key(run):
        return None
    change = _change(previous["basis"], basis)
    return change if change < RETRAIN_CHANGE else None


def reusable_lifetime(
    run: ModelRun, previous: Mapping[str, Any] | None, basis: Mapping[str, float]
) -> LifetimeModel | None:
    """The previous run's lifetime model when this run may score with it, else None."""
    if _reusable_change(run, previous, basis) is None or not previous or "lifetime" not in previous:
        return None
    nan = float("nan")  # `LifetimeModel.to_dict` wrote a non-finite likelihood as None
    bg: dict[str, Any] = {
        k: nan if v is None else v for k, v in previous["lifetime"]["bgnbd"].items()
    }
    gg: dict[str, Any] = {
        k: nan if v is None else v for k, v in previous["lifetime"]["gamma_gamma"].items()
    }
    return LifetimeModel(BgNbdParams(**bg), GammaGammaParams(**gg))


def reusable_classifiers(
    run: ModelRun, previous: Mapping[str, Any] | None, basis: Mapping[str, float]
) -> dict[str, PurchaseClassifier] | None:
    """The previous run's classifiers by name when this run may score with them, else None."""
    change = _reusable_change(run, previous, basis)
    if change is None or not previous:
        return None
    out = {}
    for name, frozen in previous["models"].items():
        card = dict(frozen["card"])
        card["reused"] = (
            f"fitted by an earlier run on the same as_of and settings; the store changed by "
            f"{change:.2%} since (profiles, orders, order revenue), below the "
            f"{RETRAIN_CHANGE:.0%} that refits"
        )
        out[str(name)] = _with_kept_anchor(_restored(frozen, card), frozen)
    return out


def _restored(frozen: Mapping[str, Any], card: dict[str, Any]) -> PurchaseClassifier:
    return PurchaseClassifier(
        int(frozen["horizon_days"]),
        list(frozen["columns"]),
        str(frozen["fallback_column"]),
        FrozenBlend(frozen["model"]),
        FrozenPlatt(frozen["calibrator"]),
        float(frozen["fallback_rate"]),
        card,
        horizon_scale=float(frozen["horizon_scale"]),
    )


def _with_kept_anchor(clf: PurchaseClassifier, frozen: Mapping[str, Any]) -> PurchaseClassifier:
    """A reused classifier keeps the anchor shift of the run that fitted it: anchored again
    on a store where 1 % changed, the shift moved by a hair and with it the score of every
    unchanged buyer (at a million profiles, 750,000 propensities and 550,000 churn risks),
    each of which the plan then had to settle back to what was delivered."""
    anchor = frozen.get("anchor")
    if isinstance(anchor, Mapping) and anchor.get("card"):
        clf.logit_shift = float(anchor["shift"])
        clf.card["calibration_anchor"] = {
            **anchor["card"],
            "reused": "the shift of the run that fitted the classifier",
        }
    return clf


def with_anchors(
    kept: Mapping[str, Any], classifiers: tuple[PurchaseClassifier, ...]
) -> dict[str, Any]:
    """`kept` with each classifier's anchor shift beside its frozen model (the scores stage
    sets the shift after the classifiers were frozen), for the runs that reuse them."""
    models = {name: dict(entry) for name, entry in kept.get("models", {}).items()}
    for clf in classifiers:
        entry = models.get(str(clf.card.get("name")))
        anchor = clf.card.get("calibration_anchor")
        if entry is not None and anchor:
            card = {k: v for k, v in anchor.items() if k != "reused"}
            entry["anchor"] = {"shift": clf.logit_shift, "card": card}
    return {**kept, "models": models}


def as_frozen(clf: PurchaseClassifier, kept: Mapping[str, Any]) -> PurchaseClassifier:
    """A freshly fitted `clf` in the frozen form the next runs score it in (`kept` is
    `frozen_classifiers`' entry; `clf` itself when nothing was kept): the run that fits and
    the runs that reuse then score with the same code, so their scores agree to the bit and
    the next run may keep this run's (`connector.modelling.score_cache`)."""
    frozen = kept.get("models", {}).get(str(clf.card["name"]))
    if frozen is None:
        return clf
    # as the next run reads it back from the state (JSON as pydantic writes it)
    return _restored(json.loads(pydantic_core.to_json(frozen, inf_nan_mode="null")), clf.card)
