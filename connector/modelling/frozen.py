"""Fitted classifiers as plain JSON, so a later run on the same day can score with them.

A classifier refitted on a store where 1 % of the profiles changed is a different model: trees
split elsewhere, coefficients move by their estimation noise, and churn risk moved past the
delivered precision for 10 to 90 % of the profiles whose data had not changed (benchmarks/
README.md, "Stable models"). Within one `as_of`, while the store changed little, the engine
scores with the classifiers it fitted last (`connector.modelling.training`): a profile whose
inputs did not change keeps its score, a changed one is scored by the same model.

Plain numbers, not pickles: the state store is data, never code, and the trees are read by a
small predictor of our own that follows scikit-learn's (`_predictor.pyx`: a missing value goes
where the split sent missing values in training, a number left when ``x <= threshold``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression

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
    rows = np.arange(len(x))
    for tree in frozen["trees"]:
        feature = np.asarray(tree["feature_idx"], dtype=np.intp)
        threshold = np.asarray(tree["num_threshold"], dtype=float)
        missing_left = np.asarray(tree["missing_go_to_left"], dtype=bool)
        left, right = np.asarray(tree["left"], np.intp), np.asarray(tree["right"], np.intp)
        leaf = np.asarray(tree["leaf"], dtype=bool)
        node = np.zeros(len(x), dtype=np.intp)
        active = ~leaf[node]
        while active.any():
            at = node[active]
            value = x[rows[active], feature[at]]
            go_left = np.where(np.isnan(value), missing_left[at], value <= threshold[at])
            node[active] = np.where(go_left, left[at], right[at])
            active = ~leaf[node]
        raw += np.asarray(tree["value"], dtype=float)[node]
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
        return _sigmoid(z @ np.asarray(lin["coef"]) + float(lin["intercept"]))

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
