"""Reads the Segment S3-destination layout from a local folder or any fsspec URL.

Layout: ``<root>/segment-logs/<source-id>/<received-day epoch ms>/<file>.gz`` (gzipped NDJSON).

Cursor design (the core keeps the max ``_cursor`` of a stream and hands it back as ``since``,
inclusive, with no lookback for opaque cursors): each record carries
``"<day:013d>/<source-id>/<file>"``. Segment keeps adding files to a day folder through that
day and copies the last hour's batch about 40 minutes after it (facts 3.3), so a file may
appear in a day folder we already read, even after the next day's folder exists. We therefore
re-read every day folder from ``since``'s day minus ``late_days`` days, in full. The overlap
costs a few days of re-reading per run and is harmless: events are upserted by ``messageId``
(``source_event_id``), and we also drop repeated messageIds within a run ourselves (Segment
delivers at least once, so the same message can sit in two files).

A file that cannot be read to its end (a truncated or corrupt gzip) is quarantined with its
path, its readable events are kept (upserts by messageId make the retry harmless), and no
record after it carries a cursor past it: the stream's mark stays at that file, so the next
run reads it again until it is readable or removed. Lines over the input limits, lines that
are not UTF-8 JSON objects (or nest too deeply to parse) are quarantined one by one.
"""

from __future__ import annotations

import gzip
import logging
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

from connector.sdk import (
    BoundedLines,
    ConfigError,
    InputLimits,
    decode_line,
    event_record,
    message_id,
    parse_json_object,
    profile_record,
)

__all__ = ["DAY_MS", "ArchiveStore", "read_archive"]

DAY_MS = 86_400_000
_log = logging.getLogger("cdp_segment.archive")


class ArchiveStore:
    """Lists and opens the ``segment-logs`` tree; fsspec is imported only for URLs."""

    def __init__(self, url: str, storage_options: dict[str, str] | None = None) -> None:
        self._fs: Any = None
        if "://" in url and not url.startswith("file://"):
            try:
                import fsspec
            except ImportError:
                raise ConfigError(
                    f"archive_url {url.split('://', maxsplit=1)[0]}://... needs fsspec: "
                    "pip install 'cdp-connector[segment-s3]' (fsspec plus s3fs for s3://)"
                ) from None
            self._fs, root = fsspec.core.url_to_fs(url, **(storage_options or {}))
            self.root = str(root).rstrip("/")
        else:
            self.root = str(Path(url.removeprefix("file://")))
        if not self.root.rstrip("/").endswith("segment-logs"):
            self.root = self.root.rstrip("/") + "/segment-logs"

    def _list(self, path: str) -> list[tuple[str, bool]]:
        """(name, is_dir) of the entries of ``path``; empty when it does not exist."""
        if self._fs is None:
            p = Path(path)
            if not p.is_dir():
                return []
            return [(c.name, c.is_dir()) for c in p.iterdir()]
        if not self._fs.exists(path):
            return []
        return [
            (str(e["name"]).rstrip("/").rsplit("/", 1)[-1], e.get("type") == "directory")
            for e in self._fs.ls(path, detail=True)
        ]

    def sources(self) -> list[str]:
        if self._fs is None and not Path(self.root).is_dir():
            raise ConfigError(f"archive_url has no segment-logs folder at {self.root}")
        return sorted(name for name, is_dir in self._list(self.root) if is_dir)

    def days(self, source: str) -> list[int]:
        return sorted(int(n) for n, d in self._list(f"{self.root}/{source}") if d and n.isdigit())

    def files(self, source: str, day: int) -> list[str]:
        names = self._list(f"{self.root}/{source}/{day}")
        return sorted(n for n, is_dir in names if not is_dir and n.endswith(".gz"))

    def open(self, source: str, day: int, name: str) -> IO[bytes]:
        """The raw (still gzipped) object."""
        path = f"{self.root}/{source}/{day}/{name}"
        if self._fs is None:
            return Path(path).open("rb")
        handle: IO[bytes] = self._fs.open(path, "rb")
        return handle


def start_day(since: str | None, late_days: int) -> int | None:
    """The first day folder to read for ``since`` (see the module docstring)."""
    if not since:
        return None
    head = since.split("/", 1)[0]
    if not head.isdigit():
        raise ConfigError(f"segment archive cursor {since[:60]!r} is not <day>/<source>/<file>")
    return int(head) - late_days * DAY_MS


class _FileLines:
    """The lines of one archive file; ``broken`` names why it could not be read to its end."""

    def __init__(self, store: ArchiveStore, source: str, day: int, name: str) -> None:
        self.where = (store, source, day, name)
        self.broken: str | None = None
        self.stopped: str | None = None

    def read(self, limits: InputLimits) -> Iterator[tuple[int, bytes | None]]:
        store, source, day, name = self.where
        try:
            with store.open(source, day, name) as raw, gzip.GzipFile(fileobj=raw) as fh:
                lines = BoundedLines(fh, limits, raw.tell)
                for line in lines:
                    yield line.number, line.data
                self.stopped = lines.stopped
        except (OSError, EOFError) as exc:
            self.broken = f"cannot be read to its end ({type(exc).__name__}: {str(exc)[:80]})"


def _invalid(reason: str, ref: str) -> dict[str, Any]:
    # both keys, so the pull stage names the record in either stream
    return {"_invalid": reason, "source_event_id": ref, "source_id": ref}


Mapper = Callable[[dict[str, Any], str], dict[str, Any] | None]


def read_archive(
    store: ArchiveStore,
    *,
    since: str | None,
    late_days: int,
    source_ids: tuple[str, ...],
    mapper: Mapper,
    prefilter: bytes | None = None,
    limits: InputLimits | None = None,
) -> Iterator[dict[str, Any]]:
    """Yield mapped records with ``_cursor`` from every file of the days at or after ``since``."""
    limits = limits or InputLimits()
    first = start_day(since, late_days)
    sources = [s for s in store.sources() if not source_ids or s in source_ids]
    plan = sorted(
        (day, src) for src in sources for day in store.days(src) if first is None or day >= first
    )
    seen: dict[int, set[str]] = {}
    hold: str | None = None  # the first broken file: no cursor moves past it
    for day, src in plan:
        # Repeats land within hours of each other: remember two days of messageIds, not all.
        for old in [d for d in seen if d < day - DAY_MS]:
            del seen[old]
        ids = seen.setdefault(day, set())
        for name in store.files(src, day):
            cursor = f"{day:013d}/{src}/{name}"
            file = _FileLines(store, src, day, name)
            for record in _file_records(file, limits, mapper, prefilter, seen, ids):
                if "_invalid" not in record:
                    record["_cursor"] = min(cursor, hold) if hold else cursor
                yield record
            ref = f"{src}/{day}/{name}"
            if file.broken:
                hold = min(cursor, hold) if hold else cursor
            if prefilter is not None:
                continue  # the profiles stream: the events stream reports the file once
            if file.broken:
                _log.error("segment archive file %s %s; the cursor waits for it", ref, file.broken)
                yield _invalid(
                    f"segment archive file {ref} {file.broken}; it is read again "
                    "next run (the cursor does not pass it) until fixed or removed",
                    ref,
                )
            elif file.stopped:
                yield _invalid(
                    f"segment archive file {ref}: {file.stopped}; the rest of the file is not read",
                    ref,
                )


def _file_records(
    file: _FileLines,
    limits: InputLimits,
    mapper: Mapper,
    prefilter: bytes | None,
    seen: dict[int, set[str]],
    ids: set[str],
) -> Iterator[dict[str, Any]]:
    _, src, day, name = file.where
    for number, data in file.read(limits):
        ref = f"{src}/{day}/{name}:{number}"
        if data is None:
            if prefilter is not None:
                continue  # reported once, by the events stream
            yield _invalid(
                f"segment archive line {ref} is longer than {limits.max_line_bytes} bytes", ref
            )
            continue
        if prefilter is not None and prefilter not in data:
            continue
        try:
            msg = parse_json_object(decode_line(data, "utf-8", first=number == 1))
        except ValueError as exc:
            msg = str(exc)
        if isinstance(msg, str):
            if data.strip():
                yield _invalid(f"segment archive line {ref}: {msg}", ref)
            continue
        mid = message_id(msg, data)
        if any(mid in s for s in seen.values()):
            continue
        ids.add(mid)
        record = mapper(msg, src)
        if record is not None:
            yield record


def event_mapper(region: str) -> Mapper:
    return lambda msg, src: event_record(msg, source_id=src, region=region)


def profile_mapper(region: str) -> Mapper:
    return lambda msg, _src: profile_record(msg, region=region)
