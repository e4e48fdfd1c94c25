"""Files source: canonical profile and event files plus Segment-spec NDJSON, incrementally.

Every run lists the files again and yields the records at or after the stream's lower bound
(records without a timestamp are always yielded; the store dedupes them by key), so new files
and appended rows are picked up without a per-file cursor.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from cdp_files import segment_spec
from cdp_files.readers import read_file
from cdp_files.settings import FilesSettings
from connector.errors import ConfigError, SkippableError
from connector.plugin.spec import PluginContext, SourceRecord, Stream
from connector.schema.normalise import parse_timestamp

__all__ = ["FilesSource"]

STREAMS = (
    Stream("profiles", "profiles", "timestamp", "updated_at"),
    Stream("events", "events", "timestamp", "occurred_at"),
    Stream("segment_profiles", "profiles", "timestamp", "updated_at"),
    Stream("segment_events", "events", "timestamp", "occurred_at"),
)


class FilesSource:
    def __init__(self, settings: FilesSettings, ctx: PluginContext) -> None:
        root = settings.path if settings.path.is_absolute() else ctx.config_dir / settings.path
        if not root.is_dir():
            raise ConfigError(
                f"sources.{ctx.instance}.path: directory {settings.path} does not exist"
            )
        self.root = root
        self.settings = settings

    def streams(self) -> Sequence[Stream]:
        return STREAMS

    def _files(self, pattern: str) -> list[Path]:
        return sorted(p for p in self.root.glob(pattern) if p.is_file())

    def read(self, stream: Stream, since: str | None) -> Iterator[SourceRecord]:
        key = "source_id" if stream.kind == "profiles" else "source_event_id"
        if stream.name in ("profiles", "events"):
            pattern = self.settings.profiles if stream.name == "profiles" else self.settings.events
            records: Iterator[dict[str, Any]] = (
                r for f in self._files(pattern) for r in read_file(f, key)
            )
        else:
            convert: Callable[[dict[str, Any]], dict[str, Any] | None] = (
                segment_spec.to_profile if stream.kind == "profiles" else segment_spec.to_event
            )
            records = (
                out
                for f in self._files(self.settings.segment)
                for msg in read_file(f, "messageId")
                if (out := (msg if "_invalid" in msg else convert(msg))) is not None
            )
        lower = parse_timestamp(since) if since else None
        for rec in records:
            if lower is not None and "_invalid" not in rec:
                value = rec.get(stream.cursor_field)
                try:
                    if value not in (None, "") and parse_timestamp(value) < lower:
                        continue
                except SkippableError:
                    pass  # validation will quarantine it with the reason
            yield rec

    def close(self) -> None:
        return None
