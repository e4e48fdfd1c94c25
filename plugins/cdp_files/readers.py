"""File readers: CSV, JSONL/NDJSON and Parquet (optionally gzipped), as canonical dicts.

Flat formats (CSV, Parquet) spell nested keys with dots: ``ids.hubspot_id``,
``traits.lifecycle_stage``, ``consent.email``; ``properties`` is a JSON text column. Empty
cells are absent values. A line that cannot be parsed becomes an ``_invalid`` record so it is
quarantined and counted, never silently dropped.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

__all__ = ["read_file", "unflatten"]

_NESTED = ("ids", "traits", "consent")


def unflatten(row: dict[str, Any], key_field: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in row.items():
        if value is None or (isinstance(value, str) and value.strip() == ""):
            continue
        head, dot, tail = key.partition(".")
        if dot and head in _NESTED:
            out.setdefault(head, {})[tail] = value
        elif key == "properties" and isinstance(value, str):
            try:
                out[key] = json.loads(value)
            except ValueError:
                return {"_invalid": "properties is not valid JSON", key_field: row.get(key_field)}
        else:
            out[key] = value
    return out


def _open_text(path: Path) -> io.TextIOBase:
    if path.suffix == ".gz":
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8", errors="replace")
    return path.open("r", encoding="utf-8", errors="replace", newline="")


def _format(path: Path) -> str:
    suffixes = [s for s in path.suffixes if s != ".gz"]
    return suffixes[-1].lstrip(".") if suffixes else ""


def read_file(path: Path, key_field: str) -> Iterator[dict[str, Any]]:
    """Yield the file's records; a file that cannot be read at all (bad gzip, not Parquet)
    yields one ``_invalid`` record naming it, so the run quarantines it and goes on."""
    try:
        yield from _read(path, key_field)
    except (OSError, EOFError, pa.ArrowException) as exc:
        yield {
            "_invalid": f"{path.name}: unreadable ({type(exc).__name__})",
            key_field: f"{path.name}:unreadable",
        }


def _csv_rows(path: Path, key_field: str) -> Iterator[dict[str, Any]]:
    with _open_text(path) as fh:
        reader = csv.DictReader(fh)
        n = 0
        while True:
            n += 1
            try:
                row = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:  # e.g. a field over the csv module's size limit
                yield {"_invalid": f"{path.name} row {n}: {exc}", key_field: f"{path.name}:{n}"}
                continue
            if None in row:  # DictReader files cells beyond the header under the key None
                yield {
                    "_invalid": f"{path.name} row {n}: more cells than the header",
                    key_field: f"{path.name}:{n}",
                }
                continue
            yield unflatten(row, key_field)


def _read(path: Path, key_field: str) -> Iterator[dict[str, Any]]:
    fmt = _format(path)
    if fmt == "csv":
        yield from _csv_rows(path, key_field)
    elif fmt in ("jsonl", "ndjson", "json"):
        with _open_text(path) as fh:
            for n, line in enumerate(fh, start=1):
                if not line.strip():
                    continue
                try:
                    obj = json.loads(line)
                except ValueError:
                    yield {
                        "_invalid": f"{path.name} line {n}: not valid JSON",
                        key_field: f"{path.name}:{n}",
                    }
                    continue
                if not isinstance(obj, dict):
                    yield {
                        "_invalid": f"{path.name} line {n}: not a JSON object",
                        key_field: f"{path.name}:{n}",
                    }
                    continue
                yield obj
    elif fmt == "parquet":
        table = pq.read_table(path)
        for batch in table.to_batches(10_000):
            for row in batch.to_pylist():
                yield unflatten(row, key_field)
