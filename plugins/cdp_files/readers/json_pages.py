"""JSON lines and CSV rows as pages in the flat layout, which the core validates in bulk.

Each JSON line is still read, decoded and parsed as ``read_file`` does (so a broken line is the same
``_invalid`` record with the same reason). An object goes into a page only when the flat layout
holds it without loss: every key canonical, every value (nested ones under ``ids``, ``consent``
and ``traits`` included) a text that is not blank. Any other object is handed over as itself,
between pages, in file order. A page also carries each row's line as ``_record``, so
``page_records`` gives the very objects the line held: a row the bulk rules leave to the record
path is judged on what the file said, not on its flat spelling.

A CSV row is flat text already: its page columns are its cells, and ``page_records`` gives the
row back unflattened, as the record path read it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from typing import Any

import pyarrow as pa

from cdp_files.readers.marks import UNFINISHED
from connector.sdk import NESTED_FIELDS, RECORD_COLUMN, SourcePage

__all__ = ["PAGE", "flat_object", "flat_pages", "json_pages"]

# rows per page: Python holds a page's objects until it is built (the core gathers pages of
# one schema into larger tables, held as Arrow)
PAGE = 4_096


def _number_text(value: Any) -> str | None:
    """A JSON number as the text whose ``float`` is the same number (``repr`` round-trips)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return repr(value)


def flat_object(obj: dict[str, Any], fields: frozenset[str]) -> dict[str, str] | None:
    """The object in the flat layout, or None when that would change what it says.

    An event's ``properties`` object becomes its JSON text (the flat layout's spelling, and
    ``json.loads`` gives the same object back); a numeric ``revenue`` its ``repr``.
    """
    out: dict[str, str] = {}
    for key, value in obj.items():
        if value is None:
            continue
        if key == "properties" and key in fields and isinstance(value, dict):
            out[key] = json.dumps(value)
        elif key == "revenue" and key in fields and (text := _number_text(value)) is not None:
            out[key] = text
        elif key in NESTED_FIELDS:
            if not isinstance(value, dict):
                return None
            for inner, text in value.items():
                if not isinstance(text, str) or not text.strip():
                    return None
                out[f"{key}.{inner}"] = text
        elif key in fields and isinstance(value, str) and value.strip():
            out[key] = value
        else:
            return None
    return out


def json_pages(
    items: Iterable[tuple[dict[str, Any], str | None]], fields: frozenset[str]
) -> Iterator[dict[str, Any] | SourcePage]:
    """``items`` (each object with its line, None for an ``_invalid`` record) as pages of
    plain objects and, in between, the other objects themselves."""
    rows: list[dict[str, str]] = []
    lines: list[str] = []
    for obj, line in items:
        flat = flat_object(obj, fields) if line is not None else None
        if flat is None:
            if rows:
                yield _page(rows, lines)
                rows, lines = [], []
            yield obj
            continue
        rows.append(flat)
        lines.append(line)  # type: ignore[arg-type]  # line is set where flat is
        if len(rows) >= PAGE:
            yield _page(rows, lines)
            rows, lines = [], []
    if rows:
        yield _page(rows, lines)


def flat_pages(rows: Iterable[dict[str, Any]]) -> Iterator[dict[str, Any] | SourcePage]:
    """Flat rows of text (a CSV file's) as pages; an ``_invalid`` or ``UNFINISHED`` record
    between them as itself. ``page_records`` gives each row back as ``unflatten`` of it."""
    batch: list[dict[str, str]] = []
    for row in rows:
        if "_invalid" in row or UNFINISHED in row:
            if batch:
                yield _page(batch, None)
                batch = []
            yield row
            continue
        batch.append(row)
        if len(batch) >= PAGE:
            yield _page(batch, None)
            batch = []
    if batch:
        yield _page(batch, None)


def _page(rows: list[dict[str, str]], lines: list[str] | None) -> SourcePage:
    names = sorted({key for row in rows for key in row})  # one order, so pages concatenate
    struct = pa.array(rows, pa.struct([(name, pa.string()) for name in names]))
    columns = struct.flatten()  # one conversion in Arrow; a key a row lacks is null
    if lines is None:
        return pa.RecordBatch.from_arrays(columns, names=names)
    columns.append(pa.array(lines, pa.string()))
    return pa.RecordBatch.from_arrays(columns, names=[*names, RECORD_COLUMN])
