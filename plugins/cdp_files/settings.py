"""Settings of the files plugin (one model for its source and its sink)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["FilesSettings"]


class FilesSettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    path: Path = Field(description="Directory to read from (source) or write to (sink).")
    profiles: str = Field("profiles/*", description="Glob of canonical profile files.")
    events: str = Field("events/*", description="Glob of canonical event files.")
    segment: str = Field("segment/*", description="Glob of Segment-spec NDJSON files.")
    format: Literal["csv", "parquet"] = Field("csv", description="Sink output format.")
    batch_size: int = Field(5_000, ge=1, le=1_000_000, description="Sink changes per write.")
