"""The columns a rule segment may name, with their types, so ``connector check`` can type-check
rules before a run (a test keeps this table equal to what the full engine really computes).

At run time a rule that still fails (a category column the data does not have) is reported by
name and its segment held; the other segments go on.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

from connector.modelling.expr import ExpressionError, typecheck
from connector.modelling.features import BASE_FEATURES
from connector.modelling.realtime_rules import ACTIVITY_COLUMNS
from connector.modelling.settings import ModelSettings
from connector.modelling.windows import compile_rule, parse_window_rule

__all__ = ["PREFIXES", "check_rules", "rule_column_types"]

# profile columns (the data store's `profiles`, consent and created_at excluded) and text scores
_TEXT = (
    "profile_id",
    "email",
    "phone",
    "first_name",
    "last_name",
    "city",
    "postal_code",
    "country",
    "sources",
    "traits",
    "clv_tier",
    "cluster_id",
)
PREFIXES = {"cat_": "number"}  # category affinity shares, one per frequent category


def rule_column_types(settings: ModelSettings) -> dict[str, str]:
    """Column name → ``number``, ``text`` or ``time`` for the full engine's rule frame."""
    horizons = sorted({settings.propensity_horizon_days, settings.churn_horizon_days})
    numbers = (
        *BASE_FEATURES,
        "t_x",
        "T",
        "bg_p_alive",
        *(f"bg_p_purchase_{h}d" for h in horizons),
        *(f"bg_expected_{h}d" for h in horizons),
        "repeat_rate",
        "recency_share",
        "expected_purchases",
        "expected_spend",
        "clv",
        "days_to_next_order",
        f"p_purchase_{settings.propensity_horizon_days}d",
        "churn_risk",
    )
    types = dict.fromkeys(numbers, "number")
    types.update(dict.fromkeys(_TEXT, "text"))
    types["updated_at"] = "time"
    return types


def check_rules(settings: ModelSettings) -> list[str]:
    """One line per rule segment that would fail: its id and name, and why."""
    types = rule_column_types(settings)
    problems = []
    names = {n: n for n in (*types, *ACTIVITY_COLUMNS)}
    for rule in settings.rule_segments:
        try:
            if rule.realtime:
                affinity = {n: n for n in re.findall(r"\bcat_[A-Za-z0-9_]+", rule.expression)}
                now = datetime.now(UTC)
                compile_rule(parse_window_rule(rule.expression), {**names, **affinity}, now)
            else:
                typecheck(rule.expression, types, PREFIXES)
        except ExpressionError as exc:
            problems.append(f"rule segment {rule.id!r} ({rule.name}): {exc}")
    return problems
