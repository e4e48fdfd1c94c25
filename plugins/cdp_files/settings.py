"""Settings of the files plugin (one model for its source and its sink)."""

from __future__ import annotations

import codecs
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from connector.sdk import InputLimits

__all__ = ["FilesSettings"]


class FilesSettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    path: Path = Field(description="Directory to read from (source) or write to (sink).")
    profiles: str = Field("profiles/*", description="Glob of canonical profile files.")
    events: str = Field("events/*", description="Glob of canonical event files.")
    segment: str = Field("segment/*", description="Glob of Segment-spec NDJSON files.")
    format: Literal["csv", "parquet"] = Field("csv", description="Sink output format.")
    batch_size: int = Field(5_000, ge=1, le=1_000_000, description="Sink changes per write.")
    encoding: str = Field(
        "utf-8",
        description="Text encoding of CSV/JSONL input (a UTF-8 byte-order mark is dropped); "
        "bytes that do not decode quarantine their line.",
    )
    delimiter: Literal[",", ";", "\t", "|"] = Field(
        ",",
        description='Field separator of CSV input (";" for a European Excel export, "\\t" '
        "for tab-separated).",
    )
    max_line_bytes: int = Field(
        256 << 10, ge=1024, description="Longest input line (or Parquet row) accepted."
    )
    max_file_bytes: int = Field(
        4 << 30, ge=1 << 20, description="Most decompressed bytes read from one file."
    )
    max_expansion: int = Field(
        250, ge=2, description="Most a file may expand (decompressed / on disk) past 64 MiB."
    )
    max_row_group_bytes: int = Field(
        1 << 30, ge=1 << 20, description="Largest uncompressed Parquet row group read."
    )

    @field_validator("encoding")
    @classmethod
    def _known_codec(cls, value: str) -> str:
        try:
            codecs.lookup(value)
        except LookupError:
            raise ValueError(f"unknown text encoding {value!r}") from None
        return value

    def limits(self) -> InputLimits:
        return InputLimits(
            max_line_bytes=self.max_line_bytes,
            max_file_bytes=self.max_file_bytes,
            max_expansion=self.max_expansion,
            max_row_group_bytes=self.max_row_group_bytes,
            encoding=self.encoding,
            delimiter=self.delimiter,
        )
