"""Features, lifetime value, propensity and churn, segments, holdouts and drift.

The runner calls `run_models` once per run and persists `ModelResult.state` for the next one;
`segment_lift` backs `connector segments lift`. Names are imported lazily: loading the config
(which validates `ModelSettings`) must not pull in scikit-learn and scipy.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

__all__ = [
    "ExpressionError",
    "ModelResult",
    "ModelSettings",
    "ModelState",
    "RuleSegment",
    "in_holdout",
    "run_models",
    "segment_lift",
]

_HOME = {
    "ExpressionError": "connector.modelling.expr",
    "ModelResult": "connector.modelling.core",
    "ModelState": "connector.modelling.core",
    "run_models": "connector.modelling.core",
    "in_holdout": "connector.modelling.holdout",
    "segment_lift": "connector.modelling.holdout",
    "ModelSettings": "connector.modelling.settings",
    "RuleSegment": "connector.modelling.settings",
}


def __getattr__(name: str) -> Any:
    if name in _HOME:
        return getattr(import_module(_HOME[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
