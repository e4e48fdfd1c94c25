"""A minimal cdp-connector plugin: profiles from a JSON file in, traits to a CSV file out.

Everything a plugin needs is here: a frozen settings model, a source (``streams`` + ``read``),
a sink (``batch_size`` + ``prepare`` + ``apply``), and the one ``SPEC`` the entry point names.
"""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Iterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from connector.sdk import (
    Capability,
    Change,
    ChangeKind,
    CheckRole,
    ConfigError,
    ConnectionCheck,
    Outcome,
    PluginContext,
    PluginSpec,
    SegmentRef,
    SinkBase,
    SourceRecord,
    Stream,
    TraitSpec,
)

__all__ = ["SPEC", "ExampleSettings"]

PEOPLE = Stream("people", "profiles", cursor="timestamp", cursor_field="updated_at")


class ExampleSettings(BaseModel):
    """Frozen, and unknown keys refused: a typo in the config is an error, not a default."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    path: Path = Field(description="Directory holding profiles.json (source) or traits.csv (sink).")


def _root(settings: ExampleSettings, ctx: PluginContext) -> Path:
    """Relative paths are relative to the config file's directory."""
    return settings.path if settings.path.is_absolute() else ctx.config_dir / settings.path


class JsonProfilesSource:
    """Yields the canonical profile records of ``profiles.json`` updated at or after ``since``."""

    def __init__(self, settings: ExampleSettings, ctx: PluginContext) -> None:
        self.file = _root(settings, ctx) / "profiles.json"

    def streams(self) -> Sequence[Stream]:
        return (PEOPLE,)

    def read(self, stream: Stream, since: str | None) -> Iterator[SourceRecord]:
        if not self.file.is_file():
            raise ConfigError(f"{self.file} does not exist")
        lower = datetime.fromisoformat(since) if since else None
        for record in json.loads(self.file.read_text()):
            stamp = record.get("updated_at")
            if lower is None or not stamp or datetime.fromisoformat(stamp) >= lower:
                yield record

    def close(self) -> None:
        return None


class CsvTraitsSink(SinkBase):
    """Keeps ``traits.csv`` equal to the traits delivered so far, one row per profile.

    The file is replaced whole and atomically per batch, so a batch re-sent after a crash
    lands once: applying the same changes twice leaves the same file.
    """

    consent: Literal["email", "ads"] | None = None

    def __init__(self, settings: ExampleSettings, ctx: PluginContext) -> None:
        self.file = _root(settings, ctx) / "traits.csv"
        self.rows: dict[str, dict[str, str]] = {}

    def batch_size(self, kind: str) -> int:
        return 500

    def prepare(self, traits: Sequence[TraitSpec], segments: Sequence[SegmentRef]) -> None:
        if self.file.is_file():
            with self.file.open(newline="") as fh:
                self.rows = {row["profile_id"]: row for row in csv.DictReader(fh)}

    def apply(self, changes: Sequence[Change]) -> Sequence[Outcome]:
        for change in changes:
            if change.kind is ChangeKind.UPSERT:
                row = self.rows.setdefault(change.recipient.profile_id, {})
                row.update({k: "" if v is None else str(v) for k, v in change.traits.items()})
                row.update({name: "" for name in change.unset})
                row["profile_id"] = change.recipient.profile_id
        self._write()
        return [Outcome.ok() for _ in changes]

    def _write(self) -> None:
        names = sorted({k for r in self.rows.values() for k in r} - {"profile_id"})
        columns = ["profile_id", *names]
        out = io.StringIO()
        writer = csv.DictWriter(out, columns, restval="", lineterminator="\n")
        writer.writeheader()
        writer.writerows(self.rows[pid] for pid in sorted(self.rows))
        self.file.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.file.with_name(f".{self.file.name}.tmp")
        tmp.write_text(out.getvalue())
        os.replace(tmp, self.file)

    def close(self) -> None:
        self.rows = {}


def _source(settings: ExampleSettings, ctx: PluginContext) -> JsonProfilesSource:
    return JsonProfilesSource(settings, ctx)


def _sink(settings: ExampleSettings, ctx: PluginContext) -> CsvTraitsSink:
    return CsvTraitsSink(settings, ctx)


def _check(
    settings: ExampleSettings, ctx: PluginContext, role: CheckRole
) -> Sequence[ConnectionCheck]:
    """What ``connector check`` reports: the input file is there, or the output folder exists."""
    root = _root(settings, ctx)
    if role == "source":
        found = (root / "profiles.json").is_file()
        return [
            ConnectionCheck(
                "profiles.json",
                str(root),
                ok=found,
                detail="found" if found else "profiles.json is missing",
                fix="" if found else "check path: it should hold profiles.json",
            )
        ]
    writable = root.is_dir() and os.access(root, os.W_OK)
    return [
        ConnectionCheck(
            "output folder",
            str(root),
            ok=writable,
            detail="writable" if writable else "not a writable folder",
            fix="" if writable else "check path: create the folder",
        )
    ]


SPEC = PluginSpec(
    name="example",
    description="Profiles from a JSON file in; traits to a CSV file out",
    capabilities=frozenset({Capability.SOURCE_PROFILES, Capability.SINK_TRAITS}),
    settings_model=ExampleSettings,
    source=_source,
    sink=_sink,
    check_connection=_check,
)
