"""Parquet rows read row group by row group, sized before they are turned into Python values.

A Parquet file of a few hundred kilobytes can hold a dictionary-encoded text repeated in
every row: ``read_table(...).to_pylist()`` turned 226 KB into 2 GB. Here the row group's
uncompressed size is checked in the footer before it is read, text columns are read as
dictionaries (each distinct value decoded once), and every row's decoded size is computed
from the value lengths before any Python value exists: a row over ``max_line_bytes`` is
quarantined alone, and the file stops with one reason when its decoded bytes pass
``max_file_bytes`` or ``max_expansion`` times its size on disk.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from connector.sdk import InputLimits

__all__ = ["parquet_pages", "parquet_rows"]

_BATCH = 1024
_SLICE_BYTES = 8 << 20


def _is_text(kind: pa.DataType) -> bool:
    return bool(
        pa.types.is_string(kind)
        or pa.types.is_large_string(kind)
        or pa.types.is_binary(kind)
        or pa.types.is_large_binary(kind)
    )


def _row_sizes(batch: pa.RecordBatch) -> np.ndarray:
    """Decoded bytes of each row, from value lengths (no Python value is built)."""
    sizes = np.zeros(batch.num_rows, dtype=np.int64)
    for column in batch.columns:
        if pa.types.is_dictionary(column.type) and _is_text(column.type.value_type):
            lengths = pc.binary_length(column.dictionary)
            per_row = pc.take(lengths, column.indices).fill_null(0)
        elif _is_text(column.type):
            per_row = pc.binary_length(column).fill_null(0)
        else:
            sizes += column.nbytes // max(1, len(column)) + 8
            continue
        sizes += per_row.to_numpy(zero_copy_only=False).astype(np.int64)
    return sizes


def parquet_rows(path: Path, key_field: str, limits: InputLimits) -> Iterator[dict[str, Any]]:
    """Raw rows (dotted keys), or ``_invalid`` records for what is over a limit."""
    for item in parquet_pages(path, key_field, limits, _BATCH):
        if isinstance(item, pa.RecordBatch):
            yield from item.to_pylist()
        else:
            yield item


def parquet_pages(
    path: Path, key_field: str, limits: InputLimits, batch_size: int = 16_384
) -> Iterator[pa.RecordBatch | dict[str, Any]]:
    """Raw pages (dotted column names) within the limits, or ``_invalid`` records for what is
    over one, in file order."""
    name = path.name
    schema = pq.read_schema(path)
    text = [f.name for f in schema if _is_text(f.type)]
    pf = pq.ParquetFile(path, read_dictionary=text)
    on_disk = path.stat().st_size
    budget = min(limits.max_file_bytes, max(limits.expansion_floor, on_disk * limits.max_expansion))
    total = 0
    for group in range(pf.metadata.num_row_groups):
        meta = pf.metadata.row_group(group)
        packed = sum(meta.column(c).total_uncompressed_size for c in range(meta.num_columns))
        if packed > limits.max_row_group_bytes:
            yield {
                "_invalid": f"{name} row group {group}: {packed} bytes uncompressed, over the "
                f"limit of {limits.max_row_group_bytes} (max_row_group_bytes)",
                key_field: f"{name}:group{group}",
            }
            continue
        for batch in pf.iter_batches(batch_size=batch_size, row_groups=[group]):
            sizes = _row_sizes(batch)
            start = 0
            while start < batch.num_rows:
                stop, size = start, 0
                while stop < batch.num_rows and size < _SLICE_BYTES:
                    if sizes[stop] > limits.max_line_bytes:
                        break
                    size += int(sizes[stop])
                    stop += 1
                total += size
                if total > budget:
                    yield _over_budget(name, key_field, limits)
                    return
                if stop > start:
                    yield batch.slice(start, stop - start)
                if stop < batch.num_rows and sizes[stop] > limits.max_line_bytes:
                    yield {
                        "_invalid": f"{name} row group {group}: a row of {int(sizes[stop])} "
                        f"bytes is longer than {limits.max_line_bytes} bytes",
                        key_field: f"{name}:group{group}",
                    }
                    total += int(sizes[stop])
                    stop += 1
                start = stop


def _over_budget(name: str, key_field: str, limits: InputLimits) -> dict[str, Any]:
    return {
        "_invalid": f"{name}: decoded size passed the limit (max_file_bytes "
        f"{limits.max_file_bytes} or {limits.max_expansion} times the file's size); the "
        "rest of the file is not read",
        key_field: f"{name}:limit",
    }
