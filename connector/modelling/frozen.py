"""Fitted classifiers as plain JSON, so a later run on the same day can score with them.

A classifier refitted on a store where 1 % of the profiles changed is a different model: trees
split elsewhere, coefficients move by their estimation noise, and churn risk moved past the
delivered precision for 10 to 90 % of the profiles whose data had not changed (benchmarks/
README.md, "Stable models"). Within one `as_of`, while the store changed little, the engine
scores with the classifiers it fitted last (`connector.modelling.training`): a profile whose
inputs did not change keeps its score, a changed one is scored by the same model.

Plain numbers, not pickles: the state store is data, never code. The trees are read back into
scikit-learn's own tree predictor (``TreePredictor``, compiled and threaded: 3.7 times faster
than our numpy walk of the same nodes at a million rows); a fit is only reused under the
scikit-learn version that made it (`connector.modelling.reuse`), so its private node layout is
the one the frozen numbers came from.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.ensemble._hist_gradient_boosting.common import (
    PREDICTOR_RECORD_DTYPE,
    X_BITSET_INNER_DTYPE,
)
from sklearn.ensemble._hist_gradient_boosting.predictor import TreePredictor
from sklearn.linear_model import LogisticRegression
from sklearn.utils._openmp_helpers import _openmp_effective_n_threads

__all__ = ["FrozenBlend", "FrozenPlatt", "freeze_blend", "freeze_platt"]

_NODE_FIELDS = ("feature_idx", "num_threshold", "missing_go_to_left", "left", "right", "value")


def _sigmoid(raw: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    out: npt.NDArray[np.float64] = 1.0 / (1.0 + np.exp(-raw))
    return out


def _freeze_trees(hgb: HistGradientBoostingClassifier) -> dict[str, Any]:
    trees = []
    for (predictor,) in hgb._predictors:  # one tree per iteration for a binary target
        nodes = predictor.nodes
        if nodes["is_categorical"].any():
            raise ValueError("categorical splits are not frozen")
        leaf = nodes["is_leaf"].astype(bool)
        trees.append({f: nodes[f].tolist() for f in _NODE_FIELDS} | {"leaf": leaf.tolist()})
    return {"baseline": float(np.ravel(hgb._baseline_prediction)[0]), "trees": trees}


def _tree_raw(frozen: dict[str, Any], x: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    raw = np.full(len(x), frozen["baseline"], dtype=float)
    x = np.ascontiguousarray(x, dtype=np.float64)
    no_bitsets = np.zeros((0, 8), dtype=X_BITSET_INNER_DTYPE)  # no categorical splits frozen
    no_map = np.zeros(0, dtype=np.uint32)
    threads = _openmp_effective_n_threads()
    for tree in frozen["trees"]:
        nodes = np.zeros(len(tree["leaf"]), dtype=PREDICTOR_RECORD_DTYPE)
        for field in _NODE_FIELDS:
            nodes[field] = tree[field]
        # scikit-learn splits "on nans" with an infinite threshold (all values left, missing
        # right: `_hist_gradient_boosting/grower.py`), which the state's JSON (pydantic)
        # writes as null; read as NaN, every value would go right
        nodes["num_threshold"] = [np.inf if v is None else v for v in tree["num_threshold"]]
        nodes["is_leaf"] = tree["leaf"]
        predictor = TreePredictor(nodes, no_bitsets, no_bitsets)
        raw += predictor.predict(x, no_bitsets, no_map, threads)
    return raw


class FrozenBlend:
    """The boosting + logistic blend of `BoostedLogitBlend`, restored from `freeze_blend`."""

    def __init__(self, frozen: dict[str, Any]) -> None:
        self.frozen = frozen
        self.hgb_share = float(frozen["hgb_share"])
        self.trees: dict[str, Any] | None = frozen.get("trees")
        self.linear: dict[str, Any] | None = frozen.get("linear")

    def freeze(self) -> dict[str, Any]:
        return self.frozen

    def _linear(self, x: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        if self.linear is None:
            raise ValueError("no linear part frozen")
        lin = self.linear
        z = np.log1p(np.clip(np.nan_to_num(x, nan=0.0), 0.0, None))
        missing = np.asarray(lin["missing"], dtype=bool)
        z = np.hstack([z, np.isnan(x[:, missing]).astype(float)])
        z = (z - np.asarray(lin["mean"])) / np.asarray(lin["std"])
        # a sum along each row, not a matrix product: BLAS may block rows differently for
        # another row count, and a row's score must not depend on which rows came with it
        # (`connector.modelling.score_cache` scores only the changed ones)
        logit = (z * np.asarray(lin["coef"])).sum(axis=1)
        return _sigmoid(logit + float(lin["intercept"]))

    def score(self, x: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        """Uncalibrated blended probability, as `BoostedLogitBlend.score`."""
        if self.hgb_share == 0.0:
            return self._linear(x)
        if self.trees is None:
            raise ValueError("no trees frozen")
        trees = _sigmoid(_tree_raw(self.trees, x))
        if self.hgb_share == 1.0:
            return trees
        out: npt.NDArray[np.float64] = self.hgb_share * trees + (1 - self.hgb_share) * self._linear(
            x
        )
        return out


def freeze_blend(
    hgb_share: float,
    hgb: HistGradientBoostingClassifier,
    logit: LogisticRegression,
    linear_scale: tuple[npt.NDArray[np.bool_], npt.NDArray[np.float64], npt.NDArray[np.float64]],
) -> dict[str, Any]:
    """A fitted blend as JSON-ready numbers (only the parts the share gives weight to)."""
    out: dict[str, Any] = {"hgb_share": hgb_share}
    if hgb_share > 0:
        out["trees"] = _freeze_trees(hgb)
    if hgb_share < 1:
        missing, mean, std = linear_scale
        out["linear"] = {
            "missing": missing.tolist(),
            "mean": mean.tolist(),
            "std": std.tolist(),
            "coef": logit.coef_[0].tolist(),
            "intercept": float(logit.intercept_[0]),
        }
    return out


class FrozenPlatt:
    """The Platt map of `propensity._Platt`, restored from `freeze_platt`."""

    def __init__(self, frozen: dict[str, float]) -> None:
        self.coef, self.intercept = float(frozen["coef"]), float(frozen["intercept"])

    def freeze(self) -> dict[str, float]:
        return {"coef": self.coef, "intercept": self.intercept}

    def predict(self, p: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        q = np.clip(p, 1e-6, 1 - 1e-6)
        return _sigmoid(self.coef * np.log(q / (1 - q)) + self.intercept)


def freeze_platt(lr: LogisticRegression) -> dict[str, float]:
    return {"coef": float(lr.coef_[0][0]), "intercept": float(lr.intercept_[0])}
