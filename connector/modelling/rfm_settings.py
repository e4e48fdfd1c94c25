"""Settings of the RFM tiers (kept apart so loading config does not import pandas)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["RfmSettings"]


class RfmSettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    high_min_score: int = Field(12, ge=3, le=15, description="R+F+M score for the high tier.")
    medium_min_score: int = Field(8, ge=3, le=15, description="R+F+M score for the medium tier.")
