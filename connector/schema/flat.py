"""Flat records and pages: the canonical layout spelled with dotted keys, as rows or as Arrow.

Flat formats (CSV, Parquet, an Arrow page a source hands over) spell nested keys with dots:
``ids.hubspot_id``, ``traits.lifecycle_stage``, ``consent.email``; ``properties`` is a JSON text
column. Empty cells (and NaN, pandas' spelling of a missing number) are absent values. A page is
a ``pyarrow.RecordBatch`` in that layout; ``page_records`` turns one into the canonical dicts the
record-at-a-time validation reads, which is what the bulk validation must agree with. A page
may carry each row's record as JSON text in ``_record`` (``RECORD_COLUMN``): then that text,
not the flat columns, is the record.
"""

from __future__ import annotations

import json
import math
from typing import Any

import pyarrow as pa

from connector.schema.records import NESTED_FIELDS

__all__ = ["RECORD_COLUMN", "page_records", "unflatten"]

RECORD_COLUMN = "_record"


def unflatten(row: dict[str, Any], key_field: str) -> dict[str, Any]:
    """One flat row as a canonical record; a ``properties`` text that is not JSON makes an
    ``_invalid`` record (quarantined with that reason)."""
    out: dict[str, Any] = {}
    for key, value in row.items():
        if value is None or (isinstance(value, str) and value.strip() == ""):
            continue
        if isinstance(value, float) and math.isnan(value):
            continue
        head, dot, tail = key.partition(".")
        if dot and head in NESTED_FIELDS:
            out.setdefault(head, {})[tail] = value
        elif key == "properties" and isinstance(value, str):
            try:
                out[key] = json.loads(value)
            except (ValueError, RecursionError):
                return {"_invalid": "properties is not valid JSON", key_field: row.get(key_field)}
        else:
            out[key] = value
    return out


def page_records(page: pa.RecordBatch | pa.Table, key_field: str) -> list[dict[str, Any]]:
    """The page's rows as canonical records, in order. A page whose ``_record`` column holds
    each row's record as JSON text (a JSON-lines file's own lines) gives those records."""
    if RECORD_COLUMN in page.schema.names:
        return [json.loads(text) for text in page.column(RECORD_COLUMN).to_pylist()]
    return [unflatten(row, key_field) for row in page.to_pylist()]
