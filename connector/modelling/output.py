"""What a modelling stage hands the rest of the run: tables plus the segment catalogue."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from connector.plugin.changes import TraitSpec

__all__ = ["ModelOutput", "SegmentDef"]


@dataclass(frozen=True, slots=True)
class SegmentDef:
    id: str
    name: str
    kind: str  # "tier" | "cluster" | "rule"
    description: str = ""
    definition: str = ""
    model_version: str = ""


@dataclass(slots=True)
class ModelOutput:
    """``scores`` has one row per profile_id; ``memberships`` columns profile_id, segment_id,
    holdout; ``traits`` names the score columns we deliver and how destinations type them."""

    features: pd.DataFrame
    scores: pd.DataFrame
    memberships: pd.DataFrame
    segments: list[SegmentDef]
    traits: list[TraitSpec]
    model_cards: list[dict[str, Any]] = field(default_factory=list)
    drift: dict[str, Any] = field(default_factory=dict)
    state: dict[str, Any] = field(default_factory=dict)
    hold_activation: bool = False
    # rule segments that failed this run (id → reason): held, their memberships left as they are
    rule_failures: dict[str, str] = field(default_factory=dict)
    # is the data recent and rich enough for forecasts (connector.modelling.sufficiency), and
    # the predictive traits held back this run because it is not
    sufficiency: dict[str, Any] = field(default_factory=dict)
    held_traits: list[str] = field(default_factory=list)
    # segments built on the held traits (id → why): held with them, memberships left as they are
    # (set by ``connector.pipeline.model`` once the real-time segments have joined)
    held_segments: dict[str, str] = field(default_factory=dict)
