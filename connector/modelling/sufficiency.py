"""Is there enough recent data for the predictive scores to mean anything?

A store whose newest event is long before `as_of` (the emulators' 2025 data scored in 2026, a
paused import) gives every profile a churn risk near 1 and a placeholder next order date; a
store with a handful of buyers gives scores that are noise. Klaviyo hides its own predictions
below such thresholds; we say why on the model card, in the CLI and the report, and by default
do not push the predictive traits (``push_insufficient_scores`` pushes them anyway). The lists
built on them are held with them (``held_segments``): the value tiers are cuts of the predicted
lifetime value, and a rule segment that reads a forecast is as stale as the forecast.
"""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta
from typing import Any

import duckdb
import pandas as pd

from connector.modelling.orders import purchase_filter
from connector.modelling.output import SegmentDef
from connector.modelling.settings import ModelSettings

__all__ = [
    "PREDICTIVE_TRAITS",
    "assess_sufficiency",
    "held_by_last_run",
    "held_segments",
    "held_traits",
]

# traits that are forecasts (observed ones such as aov and the segment name stay pushed)
PREDICTIVE_TRAITS = ("churn_risk", "predicted_orders", "clv", "clv_tier", "next_order_date")
# the other forecast columns a rule segment may read (``connector.modelling.rules``)
_FORECAST_COLUMNS = frozenset(
    {"bg_p_alive", "expected_purchases", "expected_spend", "days_to_next_order"}
)
_FORECAST_PREFIXES = ("bg_p_purchase_", "bg_expected_")


def _newest(con: duckdb.DuckDBPyConnection, as_of: datetime, where: str) -> datetime | None:
    rows = con.execute(
        f"SELECT max(occurred_at) FROM events WHERE occurred_at <= ? AND {where}", [as_of]
    ).fetchall()
    value = rows[0][0] if rows else None
    return value if isinstance(value, datetime) else None


def assess_sufficiency(
    con: duckdb.DuckDBPyConnection,
    as_of: datetime,
    features: pd.DataFrame,
    settings: ModelSettings,
) -> dict[str, Any]:
    """The verdict and its figures (recent buyers: profiles that bought in the last propensity
    horizon, the positives of the newest training window)."""
    longest = max(settings.propensity_horizon_days, settings.churn_horizon_days)
    stale_after = settings.stale_after_days or 2 * longest
    newest = _newest(con, as_of, "true")
    newest_order = _newest(con, as_of, purchase_filter())
    buyers = int((features["orders"] > 0).sum()) if len(features) else 0
    since = as_of - timedelta(days=settings.propensity_horizon_days)
    rows = con.execute(
        f"""SELECT count(DISTINCT profile_id) FROM events WHERE {purchase_filter()}
            AND occurred_at >= ? AND occurred_at <= ?""",
        [since, as_of],
    ).fetchall()
    recent_buyers = int(rows[0][0]) if rows else 0
    reasons: list[str] = []
    age = (as_of - newest).days if newest else None
    if newest is None:
        reasons.append(f"no events on or before as_of {as_of:%Y-%m-%d}")
    elif age is not None and age > stale_after:
        reasons.append(
            f"the newest event ({newest:%Y-%m-%d}) is {age} days before as_of "
            f"{as_of:%Y-%m-%d}, more than stale_after_days={stale_after}: the data has stopped "
            "arriving or as_of is wrong"
        )
    if buyers < settings.min_buyers:
        reasons.append(f"{buyers} buyers before as_of, below min_buyers={settings.min_buyers}")
    if recent_buyers < settings.min_recent_buyers:
        reasons.append(
            f"{recent_buyers} profiles bought in the last {settings.propensity_horizon_days} "
            f"days, below min_recent_buyers={settings.min_recent_buyers}"
        )
    insufficient = bool(reasons)
    return {
        "status": "insufficient" if insufficient else "sufficient",
        "reasons": reasons,
        # stale (or no) data is a fault to alert on; too few buyers is a small shop's steady
        # state, said on every run but no failure (a scheduler would otherwise page each time)
        "stale": newest is None or (age is not None and age > stale_after),
        "newest_event": newest.isoformat() if newest else None,
        "newest_order": newest_order.isoformat() if newest_order else None,
        "days_since_newest_event": age,
        "stale_after_days": stale_after,
        "buyers": buyers,
        "recent_buyers": recent_buyers,
        "predictive_traits_pushed": not insufficient or settings.push_insufficient_scores,
    }


def held_traits(sufficiency: dict[str, Any], propensity_column: str) -> list[str]:
    """The trait names not to push this run (empty when the data is sufficient or the user
    asked for the scores anyway)."""
    if sufficiency.get("predictive_traits_pushed", True):
        return []
    return [propensity_column, *PREDICTIVE_TRAITS]


def held_segments(segments: list[SegmentDef], held: list[str]) -> dict[str, str]:
    """Segment id → why it is held (its memberships left as they are) while ``held`` traits
    are: every value tier, and every rule segment whose expression reads a forecast."""
    if not held:
        return {}
    names = frozenset(held) | _FORECAST_COLUMNS
    out: dict[str, str] = {}
    for segment in segments:
        if segment.kind == "tier":
            out[segment.id] = f"{segment.name}: a tier of the predicted lifetime value"
        elif segment.kind == "rule":
            try:
                expression = str(json.loads(segment.definition).get("expression", ""))
            except (ValueError, AttributeError):
                expression = ""
            # the names it reads, in either rule language (a window rule is not parsed by
            # `expr`); a quoted word that happens to be a forecast's name holds it too: safe
            read = {
                c
                for c in re.findall(r"[A-Za-z_][A-Za-z0-9_]*", expression)
                if c in names or c.startswith(_FORECAST_PREFIXES)
            }
            if read:
                out[segment.id] = f"{segment.name}: its rule reads {', '.join(sorted(read))}"
    return out


def held_by_last_run(stages: list[dict[str, Any]]) -> dict[str, Any]:
    """The model stage record of the newest run that modelled (``stages`` newest first):
    its ``held_traits``, ``held_segments`` and the sufficiency ``reasons``; empty without one."""
    for stage in stages:
        model = stage.get("model")
        if isinstance(model, dict) and "segments" in model:
            return {
                "held_traits": [str(t) for t in model.get("held_traits") or []],
                "held_segments": sorted(str(i) for i in model.get("held_segments") or {}),
                "reasons": [str(r) for r in (model.get("sufficiency") or {}).get("reasons") or []],
            }
    return {}
