"""What the full engine delivers: ``run_models`` (`connector.modelling.engine`) in, a
``ModelOutput`` out, as the runner's model stage asks for it (the RFM engine's is `compute_rfm`).

It decides what destinations receive: scores rounded to what a marketer acts on (two decimals
for probabilities and counts, whole units for money, stated on each trait as its
``precision``), so a retrain that moves a probability in the fifth decimal does not re-upload
every profile, and the planner keeps a delivered score that moved by one unit at most; the
cluster as a named enumeration; the CLV tier; the expected next order date.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import duckdb
import pandas as pd

from connector.modelling.backend import ModelBackend
from connector.modelling.engine import ModelState, run_models
from connector.modelling.output import ModelOutput, SegmentDef
from connector.modelling.settings import ModelSettings
from connector.modelling.sufficiency import held_traits
from connector.plugin.changes import TraitSpec

__all__ = ["run_full"]

_ROUND = {
    "expected_purchases": 2,
    "churn_risk": 2,
    "predicted_orders": 2,
    "aov": 0,
    "expected_spend": 0,
    "clv": 0,
}


def _traits(propensity: str, cluster_names: list[str]) -> list[TraitSpec]:
    horizon = propensity.removeprefix("p_purchase_")
    return [
        TraitSpec(
            propensity,
            "number",
            f"Purchase propensity ({horizon})",
            "Calibrated probability of at least one order in the horizon",
            precision=2,
        ),
        TraitSpec(
            "churn_risk",
            "number",
            "Churn risk",
            "Calibrated probability of no order in the churn horizon",
            precision=_ROUND["churn_risk"],
        ),
        TraitSpec(
            "predicted_orders",
            "number",
            "Predicted orders",
            "Expected orders next year",
            precision=_ROUND["predicted_orders"],
        ),
        TraitSpec(
            "aov",
            "number",
            "Average order value",
            "Expected spend per order",
            precision=_ROUND["aov"],
        ),
        TraitSpec(
            "clv",
            "number",
            "Predicted CLV",
            "Discounted expected spend over the horizon",
            precision=_ROUND["clv"],
        ),
        TraitSpec(
            "clv_tier", "enum", "Value tier", "Tier from predicted CLV", ("low", "medium", "high")
        ),
        TraitSpec("next_order_date", "date", "Expected next order", "Expected next order date"),
        TraitSpec(
            "segment",
            "enum",
            "Segment",
            "Behavioural segment (cluster) name",
            tuple(sorted(cluster_names)),
        ),
    ]


def run_full(
    con: duckdb.DuckDBPyConnection,
    *,
    as_of: datetime,
    settings: ModelSettings,
    previous: str | None,
    backend: ModelBackend | None = None,
) -> tuple[ModelOutput, str]:
    """Score and segment; return the output and the JSON state to hand the next run."""
    state = ModelState.model_validate_json(previous) if previous else None
    result = run_models(
        con, as_of=as_of.replace(tzinfo=None), settings=settings, previous=state, backend=backend
    )
    segments = [
        SegmentDef(
            str(s["id"]),
            str(s["name"]),
            str(s["kind"]),
            str(s.get("description", "")),
            json.dumps(s.get("definition", ""), sort_keys=True, default=str),
            str(s.get("model_version", "")),
        )
        for s in result.segments
    ]
    names = {s.id: s.name for s in segments if s.kind == "cluster"}
    scores = result.scores.copy()
    propensity = next((c for c in scores.columns if c.startswith("p_purchase_")), "p_purchase_30d")
    for col, digits in {**_ROUND, propensity: 2}.items():
        if col in scores.columns:
            scores[col] = scores[col].astype(float).round(digits)
    scores["segment"] = scores["cluster_id"].map(names)
    scores["next_order_date"] = pd.to_datetime(scores["next_order_date"]).dt.strftime("%Y-%m-%d")
    cards: list[dict[str, Any]] = [dict(c) for c in result.model_cards]
    held = held_traits(result.sufficiency, propensity)
    output = ModelOutput(
        features=result.features,
        scores=scores,
        memberships=result.memberships,
        segments=segments,
        traits=[t for t in _traits(propensity, list(names.values())) if t.name not in held],
        model_cards=cards,
        drift=result.drift,
        hold_activation=bool(result.drift.get("hold_activation")),
        rule_failures=dict(result.rule_failures),
        sufficiency=dict(result.sufficiency),
        held_traits=held,
    )
    return output, result.state.model_dump_json()
