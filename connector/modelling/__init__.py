"""Features, lifetime value, propensity and churn, segments, holdouts and drift.

The runner calls `run_models` once per run and persists `ModelResult.state` for the next one;
`segment_lift` backs `connector segments lift`."""

from connector.modelling.core import ModelResult, ModelState, run_models
from connector.modelling.expr import ExpressionError
from connector.modelling.holdout import in_holdout, segment_lift
from connector.modelling.settings import ModelSettings, RuleSegment

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
