"""File readers: CSV, JSONL/NDJSON and Parquet (optionally gzipped), as canonical dicts.

Flat formats (CSV, Parquet) spell nested keys with dots: ``ids.hubspot_id``,
``traits.lifecycle_stage``, ``consent.email``; ``properties`` is a JSON text column. Empty
cells (and NaN, pandas' spelling of a missing number) are absent values. A line that cannot
be parsed, decoded or that is over a limit (``connector.schema.rawinput``) becomes an
``_invalid`` record so it is quarantined and counted, never silently dropped, and the rest of
the file is still read. Columns outside the canonical layout are named once per file in a
warning (names only, never values).
"""

from __future__ import annotations

import gzip
import logging
from collections.abc import Iterator, Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pyarrow as pa

from cdp_files.readers.csv_rows import csv_rows
from cdp_files.readers.json_pages import flat_pages, json_pages
from cdp_files.readers.marks import ROW, UNFINISHED
from cdp_files.readers.parquet_rows import parquet_pages, parquet_rows
from connector.sdk import (
    EVENT_FIELDS,
    NESTED_FIELDS,
    PROFILE_FIELDS,
    BoundedLines,
    InputLimits,
    SourcePage,
    decode_line,
    parse_json_object,
    unflatten,
)

__all__ = ["ROW", "UNFINISHED", "read_file", "read_pages", "unflatten"]

_NESTED = NESTED_FIELDS
_CANONICAL = {
    "source_id": frozenset(PROFILE_FIELDS),
    "source_event_id": frozenset(EVENT_FIELDS),
}
_PAGED = frozenset({"source_id", "source_event_id"})  # CSV and JSON lines handed over as pages
_log = logging.getLogger("cdp_files")


def _format(path: Path) -> str:
    suffixes = [s for s in path.suffixes if s != ".gz"]
    return suffixes[-1].lstrip(".") if suffixes else ""


def read_file(
    path: Path, key_field: str, limits: InputLimits | None = None
) -> Iterator[dict[str, Any]]:
    """Yield the file's records; a file that cannot be read at all (bad gzip, not Parquet)
    yields one ``_invalid`` record naming it, so the run quarantines it and goes on."""
    for item in _guarded(path, key_field, limits or InputLimits(), pages=False):
        if isinstance(item, dict):  # pages=False yields records only
            yield item


def _guarded(
    path: Path, key_field: str, limits: InputLimits, *, pages: bool
) -> Iterator[SourcePage | dict[str, Any]]:
    unknown = _UnknownColumns(path.name, key_field)
    try:
        yield from _read(path, key_field, limits, unknown, pages=pages)
    except (OSError, EOFError, pa.ArrowException) as exc:
        yield _unreadable(path, key_field, exc)
    unknown.warn()


def read_pages(
    path: Path, key_field: str, limits: InputLimits | None = None
) -> Iterator[SourcePage | dict[str, Any]]:
    """The file as pages where its format is columnar (Parquet: Arrow batches straight from
    the reader, flat canonical layout), CSV rows and JSON lines as pages (``json_pages``; a
    JSON line the flat layout cannot hold stays a record), and as records otherwise; the same
    records, limits and ``_invalid`` reasons as ``read_file``."""
    if _format(path) != "parquet":
        yield from _guarded(path, key_field, limits or InputLimits(), pages=True)
        return
    unknown = _UnknownColumns(path.name, key_field)
    try:
        for item in parquet_pages(path, key_field, limits or InputLimits()):
            if isinstance(item, pa.RecordBatch):
                unknown.see(item.schema.names)
            yield item
    except (OSError, EOFError, pa.ArrowException) as exc:
        yield _unreadable(path, key_field, exc)
    unknown.warn()


def _unreadable(path: Path, key_field: str, exc: BaseException) -> dict[str, Any]:
    return {
        "_invalid": f"{path.name}: unreadable ({type(exc).__name__})",
        key_field: f"{path.name}:unreadable",
    }


class _UnknownColumns:
    """Collects column names outside the canonical layout; warns once per file."""

    def __init__(self, name: str, key_field: str) -> None:
        self.name = name
        self.known = _CANONICAL.get(key_field)
        self.names: set[str] = set()

    def see(self, columns: Sequence[str]) -> None:
        if self.known is None or len(self.names) > 50:
            return
        for column in columns:
            head, dot, _ = column.partition(".")
            if column not in self.known and not (dot and head in _NESTED):
                self.names.add(column[:40])

    def warn(self) -> None:
        if self.names:
            _log.warning(
                "%s: %d column(s) not in the canonical layout were ignored: %s",
                self.name,
                len(self.names),
                ", ".join(sorted(repr(n) for n in self.names)[:20]),
            )


def _lines(path: Path, limits: InputLimits, stack: ExitStack) -> BoundedLines:
    raw = stack.enter_context(path.open("rb"))
    if path.suffix == ".gz":
        unpacked = stack.enter_context(gzip.GzipFile(fileobj=raw, mode="rb"))
        return BoundedLines(unpacked, limits, raw.tell)
    return BoundedLines(raw, limits)


def _read(
    path: Path, key_field: str, limits: InputLimits, unknown: _UnknownColumns, *, pages: bool
) -> Iterator[SourcePage | dict[str, Any]]:
    fmt = _format(path)
    if fmt == "parquet":
        for row in parquet_rows(path, key_field, limits):
            if "_invalid" in row:
                yield row
            else:
                unknown.see(list(row))
                yield unflatten(row, key_field)
        return
    if fmt not in ("csv", "jsonl", "ndjson", "json"):
        return
    with ExitStack() as stack:
        lines = _lines(path, limits, stack)
        yield from _text_rows(fmt, lines, path.name, key_field, unknown, pages=pages)
        if lines.stopped:
            yield {
                "_invalid": f"{path.name}: {lines.stopped}; the rest of the file is not read",
                key_field: f"{path.name}:limit",
            }


def _text_rows(
    fmt: str,
    lines: BoundedLines,
    name: str,
    key_field: str,
    unknown: _UnknownColumns,
    *,
    pages: bool,
) -> Iterator[SourcePage | dict[str, Any]]:
    paged = pages and key_field in _PAGED
    if fmt == "csv":
        rows = csv_rows(lines, name, key_field, lines.limits, unknown.see)
        if paged:
            yield from flat_pages(rows)
        else:
            yield from (
                row if "_invalid" in row or UNFINISHED in row else unflatten(row, key_field)
                for row in rows
            )
        return
    parsed = _json_lines(lines, name, key_field, lines.limits.encoding, unknown)
    if paged:
        yield from json_pages(parsed, _CANONICAL[key_field])
    else:
        yield from (obj for obj, _ in parsed)


def _json_lines(
    lines: BoundedLines, name: str, key_field: str, encoding: str, unknown: _UnknownColumns
) -> Iterator[tuple[dict[str, Any], str | None]]:
    """Each line's object with its text (None for an ``_invalid`` record)."""
    for line in lines:
        where = {key_field: f"{name}:{line.number}"}
        if line.data is None:
            reason = f"longer than {lines.limits.max_line_bytes} bytes ({line.size})"
            yield {"_invalid": f"{name} line {line.number}: {reason}", **where}, None
            continue
        try:
            text = decode_line(line.data, encoding, first=line.number == 1)
        except ValueError as exc:
            reason = f"{exc}; set encoding on the source if it is not UTF-8"
            yield {_broken(line.data): f"{name} line {line.number}: {reason}", **where}, None
            continue
        if not text.strip():
            continue
        obj = parse_json_object(text)
        if isinstance(obj, str):
            yield {_broken(line.data): f"{name} line {line.number}: {obj}", **where}, None
            continue
        unknown.see(list(obj))
        yield obj, text


def _broken(data: bytes) -> str:
    """How a line that does not decode or parse is marked: the last line with no newline may
    still be being written (an export appending, perhaps cut inside a character), and the
    source decides whether it waits for its newline or is quarantined."""
    return "_invalid" if data.endswith(b"\n") else UNFINISHED
