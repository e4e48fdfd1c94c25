"""RFM features and value tiers: the first modelling stage, enough to drive the pipeline.

Recency, frequency and monetary value of completed orders as of a cutoff; quintile scores
(ties share a score, so reruns and fresh workspaces agree); tiers from the summed score. Traits
we deliver avoid values that drift daily by themselves (``last_order_date`` rather than
``recency_days``), so an unchanged customer base plans no changes.
"""

from __future__ import annotations

from datetime import datetime

import duckdb
import pandas as pd

from connector.modelling.orders import netted_events_sql
from connector.modelling.output import ModelOutput, SegmentDef
from connector.modelling.rfm_settings import RfmSettings
from connector.plugin.changes import TraitSpec

__all__ = ["TIERS", "RfmSettings", "compute_rfm"]


TIERS: tuple[SegmentDef, ...] = (
    SegmentDef("rfm_high", "High value", "tier", "Recent, frequent, high-spending customers"),
    SegmentDef("rfm_medium", "Medium value", "tier", "Customers with middling RFM scores"),
    SegmentDef("rfm_low", "Low value", "tier", "Customers who bought rarely, little or long ago"),
    SegmentDef("rfm_prospect", "Prospects", "tier", "Known people without a completed order"),
)

TRAITS = [
    TraitSpec(
        "rfm_tier",
        "enum",
        "RFM tier",
        "Value tier from RFM scores",
        tuple(t.id.removeprefix("rfm_") for t in TIERS),
    ),
    TraitSpec(
        "rfm_score", "number", "RFM score", "Sum of recency, frequency, monetary quintiles (3-15)"
    ),
    TraitSpec("orders_count", "number", "Orders", "Completed orders to date"),
    TraitSpec(
        "total_revenue",
        "number",
        "Total revenue",
        "Revenue of completed orders to date",
        precision=2,
    ),
    TraitSpec("last_order_date", "date", "Last order date", "Date of the latest completed order"),
]


def compute_rfm(
    con: duckdb.DuckDBPyConnection, *, as_of: datetime, settings: RfmSettings
) -> ModelOutput:
    cutoff = as_of.replace(tzinfo=None)
    features = con.execute(
        f"""
        WITH o AS (
            SELECT profile_id, occurred_at, coalesce(revenue, 0) AS revenue
            FROM ({netted_events_sql("$1::TIMESTAMP", inclusive=True)}) netted
            WHERE type = 'order_completed' AND profile_id IS NOT NULL
        )
        SELECT p.profile_id,
               count(o.occurred_at) AS frequency,
               coalesce(sum(o.revenue), 0) AS monetary_total,
               avg(o.revenue) AS aov,
               max(o.occurred_at) AS last_order_at,
               min(o.occurred_at) AS first_order_at,
               date_diff('day', max(o.occurred_at), $1::TIMESTAMP) AS recency_days
        FROM profiles p LEFT JOIN o USING (profile_id)
        GROUP BY p.profile_id ORDER BY p.profile_id
        """,
        [cutoff],
    ).df()
    buyers = features[features["frequency"] > 0].copy()
    scores = features[["profile_id"]].copy()
    if not buyers.empty:
        # ties share a quintile (minimum rank), so scores depend on the data alone, not on
        # row order or profile ids: reruns and fresh workspaces agree
        n = len(buyers)
        for col, asc, out in (
            ("recency_days", False, "r"),
            ("frequency", True, "f"),
            ("monetary_total", True, "m"),
        ):
            rank = buyers[col].rank(method="min", ascending=asc) - 1
            buyers[out] = (rank * 5 // n + 1).astype(int)
        buyers["rfm_score"] = buyers["r"] + buyers["f"] + buyers["m"]
        scores = scores.merge(buyers[["profile_id", "rfm_score"]], on="profile_id", how="left")
    else:
        scores["rfm_score"] = pd.NA
    tier = pd.Series("prospect", index=scores.index, dtype="object")
    has = scores["rfm_score"].notna()
    tier[has] = "low"
    tier[has & (scores["rfm_score"] >= settings.medium_min_score)] = "medium"
    tier[has & (scores["rfm_score"] >= settings.high_min_score)] = "high"
    scores["rfm_tier"] = tier
    scores = scores.merge(
        features[["profile_id", "frequency", "monetary_total", "last_order_at"]], on="profile_id"
    ).rename(columns={"frequency": "orders_count", "monetary_total": "total_revenue"})
    scores["last_order_date"] = pd.to_datetime(scores["last_order_at"]).dt.strftime("%Y-%m-%d")
    scores = scores.drop(columns=["last_order_at"])
    memberships = pd.DataFrame(
        {
            "profile_id": scores["profile_id"],
            "segment_id": "rfm_" + scores["rfm_tier"],
            "holdout": False,
        }
    )
    return ModelOutput(
        features=features,
        scores=scores,
        memberships=memberships,
        segments=[
            SegmentDef(t.id, t.name, t.kind, t.description, _definition(t.id, settings), "rfm-1")
            for t in TIERS
        ],
        traits=list(TRAITS),
    )


def _definition(segment_id: str, s: RfmSettings) -> str:
    return {
        "rfm_high": f"rfm_score >= {s.high_min_score}",
        "rfm_medium": f"{s.medium_min_score} <= rfm_score < {s.high_min_score}",
        "rfm_low": f"rfm_score < {s.medium_min_score}",
        "rfm_prospect": "orders_count == 0",
    }[segment_id]
