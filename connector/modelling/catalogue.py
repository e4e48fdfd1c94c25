"""Segment catalogue entries (clusters, rules, value tiers) and their version history.

An entry keeps `first_seen` from the previous catalogue and moves `last_changed` only when its
name or definition text changes, so downstream lists are renamed only when the segment really
changed.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd

from connector.modelling.expr import ExpressionError, evaluate
from connector.modelling.settings import ModelSettings

TIERS = ("low", "medium", "high")


def previous_cuts(catalogue: list[dict[str, Any]]) -> list[float] | None:
    """The tier cut points a previous catalogue states (medium's and high's lower bounds)."""
    lows = {
        e["id"]: (e.get("definition") or {}).get("clv_min")
        for e in catalogue
        if e.get("kind") == "tier" and isinstance(e.get("definition"), dict)
    }
    cuts = [lows.get("tier-medium"), lows.get("tier-high")]
    return [float(c) for c in cuts if c is not None] if None not in cuts else None


def assign_tiers(
    clv: pd.Series, settings: ModelSettings, cuts: list[float] | None = None
) -> tuple[pd.Series, list[float]]:
    """CLV tiers: cut points are quantiles of predicted CLV among profiles with CLV > 0 (or
    `cuts`, a reused fit's); profiles without predicted value are "low"."""
    positive = clv[clv > 0]
    if len(positive) == 0:
        return pd.Series("low", index=clv.index), [0.0, 0.0]
    if cuts is None:
        cuts = [float(np.quantile(positive, q)) for q in settings.tier_cut_points]
    tier = np.where(clv >= cuts[1], "high", np.where(clv >= cuts[0], "medium", "low"))
    tier = np.where(clv > 0, tier, "low")
    return pd.Series(tier, index=clv.index), cuts


def tier_entries(tiers: pd.Series, cuts: list[float]) -> list[dict[str, Any]]:
    bounds = {"low": (None, cuts[0]), "medium": (cuts[0], cuts[1]), "high": (cuts[1], None)}
    names = {"low": "Low value", "medium": "Medium value", "high": "High value"}
    out = []
    for t in TIERS:
        lo, hi = bounds[t]
        out.append(
            {
                "id": f"tier-{t}",
                "name": names[t],
                "kind": "tier",
                "description": f"Predicted CLV tier '{t}' (CLV from {lo or 0:.2f}"
                + (f" to {hi:.2f})." if hi is not None else " up)."),
                "definition": {"clv_tier": t, "clv_min": lo, "clv_max": hi},
                "size": int((tiers == t).sum()),
            }
        )
    return out


def rule_entries(
    frame: pd.DataFrame, settings: ModelSettings
) -> tuple[list[dict[str, Any]], dict[str, np.ndarray[Any, Any]], dict[str, str]]:
    """Evaluate configured rule segments; a rule that fails is left out and its reason returned
    by segment id (the run reports it by name and holds that segment), the others go on."""
    entries, masks, failures = [], {}, {}
    for rule in settings.rule_segments:
        if rule.realtime:
            continue  # window rules: `connector.modelling.realtime_rules`, over the events
        try:
            mask = evaluate(rule.expression, frame)
        except ExpressionError as exc:
            failures[rule.id] = f"rule segment {rule.id!r} ({rule.name}) failed: {exc}"
            continue
        masks[rule.id] = mask
        entries.append(
            {
                "id": rule.id,
                "name": rule.name,
                "kind": "rule",
                "description": f"Profiles where {rule.expression}.",
                "definition": {"expression": rule.expression},
                "size": int(mask.sum()),
            }
        )
    return entries, masks, failures


def _signature(entry: dict[str, Any]) -> str:
    definition = entry["definition"]
    if entry["kind"] == "cluster":
        definition = {}  # centroids move every run; the id and name carry the identity
    elif entry["kind"] == "tier":
        definition = {"clv_tier": definition["clv_tier"]}
    return json.dumps([entry["name"], entry["kind"], definition], sort_keys=True)


def version_entries(
    entries: list[dict[str, Any]],
    previous: list[dict[str, Any]],
    *,
    as_of: datetime,
    model_version: str,
) -> list[dict[str, Any]]:
    """Add model_version, first_seen and last_changed (carried over from `previous`)."""
    before = {e["id"]: e for e in previous}
    stamp = as_of.isoformat()
    out = []
    for e in entries:
        old = before.get(e["id"])
        changed = old is None or _signature(old) != _signature(e)
        out.append(
            {
                **e,
                "model_version": model_version,
                "first_seen": old["first_seen"] if old else stamp,
                "last_changed": stamp if changed else old["last_changed"],  # type: ignore[index]
            }
        )
    return out
