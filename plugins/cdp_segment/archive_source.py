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
"""

from __future__ import annotations

import gzip
import json
import logging
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

from cdp_segment.mapping import event_record, message_id, profile_record
from connector.errors import ConfigError

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


def _lines(store: ArchiveStore, source: str, day: int, name: str) -> Iterator[bytes]:
    try:
        with store.open(source, day, name) as raw, gzip.GzipFile(fileobj=raw, mode="rb") as fh:
            yield from fh
    except (OSError, EOFError) as exc:
        # S3 objects are written whole, so a broken file stays broken: say which and go on.
        _log.error("segment archive file %s/%s/%s is unreadable: %s", source, day, name, exc)


Mapper = Callable[[dict[str, Any], str], dict[str, Any] | None]


def read_archive(
    store: ArchiveStore,
    *,
    since: str | None,
    late_days: int,
    source_ids: tuple[str, ...],
    mapper: Mapper,
    prefilter: bytes | None = None,
) -> Iterator[dict[str, Any]]:
    """Yield mapped records with ``_cursor`` from every file of the days at or after ``since``."""
    first = start_day(since, late_days)
    sources = [s for s in store.sources() if not source_ids or s in source_ids]
    plan = sorted(
        (day, src) for src in sources for day in store.days(src) if first is None or day >= first
    )
    seen: dict[int, set[str]] = {}
    skipped = 0
    for day, src in plan:
        # Repeats land within hours of each other: remember two days of messageIds, not all.
        for old in [d for d in seen if d < day - DAY_MS]:
            del seen[old]
        ids = seen.setdefault(day, set())
        for name in store.files(src, day):
            cursor = f"{day:013d}/{src}/{name}"
            for line in _lines(store, src, day, name):
                if prefilter is not None and prefilter not in line:
                    continue
                try:
                    msg = json.loads(line)
                except ValueError:
                    skipped += 1
                    continue
                if not isinstance(msg, dict):
                    skipped += 1
                    continue
                mid = message_id(msg, line)
                if any(mid in s for s in seen.values()):
                    continue
                ids.add(mid)
                record = mapper(msg, src)
                if record is not None:
                    record["_cursor"] = cursor
                    yield record
    if skipped:
        _log.warning("segment archive: %d lines were not JSON objects and were skipped", skipped)


def event_mapper(region: str) -> Mapper:
    return lambda msg, src: event_record(msg, source_id=src, region=region)


def profile_mapper(region: str) -> Mapper:
    return lambda msg, _src: profile_record(msg, region=region)
