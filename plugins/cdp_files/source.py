"""Files source: canonical profile and event files plus Segment-spec NDJSON, incrementally.

Every run lists the files again. A file an earlier run read whose size, modification and change
times are as they were then is skipped: nothing in it can be new (its rows were stored then).
Otherwise a file this source has not read before, or one modified at
or after the stream's lower bound (the mark minus lookback), is read whole, whatever the dates
of its rows: a file dropped late with old rows is new input, and filtering it by row date would
skip it without a trace (its modification time alone is no guide: ``cp -p``, ``rsync -a`` and
unzip keep an old one). An older file already read yields only the records at or after the lower
bound (records without a timestamp are always yielded; the store dedupes them by key), so
appended rows are picked up too.

Files are handed over as Arrow pages (``read_pages``: Parquet batches, CSV rows, and JSON lines
whose objects the flat layout holds), which the core validates and stores in bulk; ``read``
yields the very same records one by one.

Files are remembered as read (in the plugin's state) when the source is closed, after the pull
stage stored what they yielded; a run killed before that reads them whole again, which the
store's de-duplication makes harmless.

A JSON-lines file's last line that does not parse and has no newline yet, or a CSV file's last
row with no newline yet (it parses, but its last cell may be cut short), in a file modified
within ``UNFINISHED_GRACE`` and not gzipped, is taken as still being written (an export
appending while we read): it is neither stored nor quarantined, and the file is not
remembered as read, so the next run reads it again. Once the file has been left alone that
long, the JSON line is quarantined like any broken line, so a file cut short for good is
still reported, and the CSV row is read as it is (many exports end without a newline).
"""

from __future__ import annotations

from collections.abc import Generator, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from cdp_files.readers import ROW, UNFINISHED, read_file, read_pages, unflatten
from cdp_files.settings import FilesSettings
from cdp_files.tail import tail_lines
from connector.sdk import (
    ConfigError,
    PluginContext,
    SkippableError,
    SourcePage,
    SourceRecord,
    Stream,
    event_record,
    keep_since,
    page_records,
    parse_timestamp,
    profile_record,
)

__all__ = ["STREAMS", "UNFINISHED_GRACE", "FilesSource", "spec_record"]

UNFINISHED_GRACE = timedelta(minutes=10)

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
        self.region = ctx.default_region
        self._state = ctx.state
        self._read_whole: dict[str, str] = {}  # file → its signature when this run read it

    def streams(self) -> Sequence[Stream]:
        return STREAMS

    def live_streams(self) -> Sequence[Stream]:
        """Canonical and Segment-spec event files, tailed line by line (``cdp_files.tail``)."""
        return [s for s in STREAMS if s.kind == "events"]

    def tail(self, stream: Stream, after: str | None) -> Iterator[SourceRecord]:
        pattern = self.settings.events if stream.name == "events" else self.settings.segment
        files = self._files(pattern)
        for obj, name, mark in tail_lines(self.root, files, after, self.settings.limits()):
            if obj.get("_blank"):
                continue
            if stream.name == "events" or "_invalid" in obj:
                rec: dict[str, Any] | None = obj
            else:
                rec = spec_record(obj, False, name, self.region)
            if rec is not None:
                yield {**rec, "_cursor": mark}

    def _files(self, pattern: str) -> list[Path]:
        return sorted(p for p in self.root.glob(pattern) if p.is_file())

    def read(self, stream: Stream, since: str | None) -> Iterator[SourceRecord]:
        key = "source_id" if stream.kind == "profiles" else "source_event_id"
        for item in self.read_pages(stream, since):
            if isinstance(item, dict):
                yield item
            else:
                yield from page_records(item, key)

    def read_pages(self, stream: Stream, since: str | None) -> Iterator[SourceRecord | SourcePage]:
        """``read``'s records, as Arrow pages where the format allows (validated in bulk)."""
        key = "source_id" if stream.kind == "profiles" else "source_event_id"
        lower = parse_timestamp(since) if since else None
        if stream.name in ("profiles", "events"):
            pattern = self.settings.profiles if stream.name == "profiles" else self.settings.events
            files = self._files(pattern)
        else:
            files = self._files(self.settings.segment)
        for path in files:
            seen = _seen_key(stream, path.relative_to(self.root))
            signature = _signature(path)  # before reading: an append while we read shows next run
            if seen not in self._read_whole and lower is not None:
                if self._state.get(seen) == signature:
                    continue  # an earlier run read and stored it; untouched since, so nothing new
            known = seen in self._read_whole or self._state.get(seen) is not None
            whole = lower is None or _modified_at(path) >= lower or not known
            waiting = yield from self._file(stream, path, key, lower if not whole else None)
            if waiting:
                self._read_whole.pop(seen, None)  # still being written: read again next run
            else:
                self._read_whole[seen] = signature

    def _file(
        self, stream: Stream, path: Path, key: str, lower: datetime | None
    ) -> Generator[SourceRecord | SourcePage, None, bool]:
        """One file's records and pages (those at or after ``lower``, when given); returns
        whether its last line waits for its newline (module docstring)."""
        waiting = False
        for item in self._records(stream, path, key):
            if not isinstance(item, dict):  # a page
                yield item if lower is None else item.filter(
                    keep_since(item, stream.cursor_field, lower))  # fmt: skip
                continue
            rec = item
            if UNFINISHED in rec:
                if _appendable(path) and datetime.now(UTC) - _modified_at(path) < UNFINISHED_GRACE:
                    waiting = True
                    continue
                # left alone long enough (or gzipped): the file ends so; a CSV row is read as
                # it is, a JSON line that does not parse is quarantined
                rec = unflatten(rec[ROW], key) if ROW in rec else _cut_short(rec, key)
            if lower is None or "_invalid" in rec or not _older(rec, stream.cursor_field, lower):
                yield rec
        return waiting

    def _records(
        self, stream: Stream, path: Path, key: str
    ) -> Iterator[dict[str, Any] | SourcePage]:
        limits = self.settings.limits()
        if stream.name in ("profiles", "events"):
            yield from read_pages(path, key, limits)
            return
        profiles = stream.kind == "profiles"
        for msg in read_file(path, "messageId", limits):
            if mark := next((m for m in (UNFINISHED, "_invalid") if m in msg), None):
                yield {mark: msg[mark], key: msg.get("messageId")}
            elif (out := spec_record(msg, profiles, path.name, self.region)) is not None:
                yield out

    def close(self) -> None:
        for seen, signature in sorted(self._read_whole.items()):
            self._state.put(seen, signature)
        self._read_whole.clear()


def _seen_key(stream: Stream, relative: Path) -> str:
    return f"read:{stream.name}:{relative.as_posix()}"


def _signature(path: Path) -> str:
    """Size, modification and change time: any write, append, replacement or rename into place
    moves the change time, which, unlike the modification time, no copy tool can set back."""
    st = path.stat()
    return f"{st.st_size}:{st.st_mtime_ns}:{st.st_ctime_ns}"


def _modified_at(path: Path) -> datetime:
    return datetime.fromtimestamp(path.stat().st_mtime, UTC)


def _cut_short(rec: dict[str, Any], key: str) -> dict[str, Any]:
    """The quarantined record of a last JSON line that never got its newline."""
    return {"_invalid": f"{rec[UNFINISHED]} (the last line, with no newline)", key: rec.get(key)}


def _appendable(path: Path) -> bool:
    """Whether a file can be read while an export appends to it: plain text can; a gzip
    file being written ends in a truncated member, which is an error of its own."""
    return not path.name.endswith(".gz")


def _older(rec: dict[str, Any], field: str, lower: datetime | None) -> bool:
    value = rec.get(field)
    if lower is None or value in (None, ""):
        return False
    try:
        return parse_timestamp(value) < lower
    except SkippableError:
        return False  # validation will quarantine it with the reason


def spec_record(
    msg: dict[str, Any], profiles: bool, file: str, region: str
) -> dict[str, Any] | None:
    """One Segment-spec line as a profile or an event, by the core's one Segment-spec mapper
    (the file's name stands where the Segment plugin names its Segment source)."""
    if profiles:
        return profile_record(msg, region=region)
    return event_record(msg, source_id=file, region=region)
