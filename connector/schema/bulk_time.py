"""Timestamps of a whole column at once, agreeing with ``parse_timestamp`` value for value.

The bulk pull parses cursor and event timestamps in DuckDB. Only the shapes whose meaning is
certain are parsed there: ISO-8601 text ``YYYY-MM-DD``, optionally ``[T ]HH:MM[:SS[.ffffff]]``
and then ``Z`` or ``±HH:MM``, years 1000 to 8999 (so no offset can leave the calendar). DuckDB
casts the local part and the offset is applied by hand (its ``TIMESTAMP`` cast ignores an
offset). Everything else (epoch numbers, ``+0530``, a leap second, padding) is "unsure" and
goes to ``parse_timestamp`` one distinct value at a time; a property test holds the two equal.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import duckdb
import numpy as np
import pyarrow as pa

from connector.errors import SkippableError
from connector.schema.normalise import parse_timestamp

__all__ = ["engine", "instant_sql", "is_instant", "iso_sql", "keep_since"]

_DATE = r"[1-8]\d{3}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12]\d|3[01])"
_TIME = r"(?:[01]\d|2[0-3]):[0-5]\d(?::[0-5]\d(?:\.\d{1,6})?)?"
_OFFSET = r"(?:[Zz]|([+-])((?:[01]\d|2[0-3])):([0-5]\d))"
# group 1: the whole value; 2: the local part when an offset follows; 3-5: sign, hours, minutes
_FULL = rf"^(?:({_DATE}(?:[T ]{_TIME})?)|({_DATE}[T ]{_TIME}){_OFFSET})$"

# The common shapes, parsed by one match and a strptime (the general form costs five regex
# extractions a row): UTC with ``Z`` to the second or the microsecond (what ``to_iso`` writes).
_SECONDS = r"(?:[01]\d|2[0-3]):[0-5]\d:[0-5]\d"
_COMMON = (
    (rf"{_DATE}T{_SECONDS}Z", "%Y-%m-%dT%H:%M:%SZ"),
    (rf"{_DATE}T{_SECONDS}\.\d{{6}}Z", "%Y-%m-%dT%H:%M:%S.%fZ"),
)

_local = threading.local()


def engine() -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB for vectorised validation (one per thread, never the data store)."""
    con: duckdb.DuckDBPyConnection | None = getattr(_local, "con", None)
    if con is None:
        con = duckdb.connect(":memory:")
        _local.con = con
    return con


def iso_sql(value: str) -> str:
    """SQL: the naive UTC ``TIMESTAMP`` of text ``value``, or NULL when it is not sure."""
    p = _FULL.replace("'", "''")

    def grp(n: int) -> str:
        return f"regexp_extract({value}, '{p}', {n})"

    minutes = (
        f"(CASE {grp(3)} WHEN '-' THEN -1 ELSE 1 END)"
        f" * (coalesce(try_cast(nullif({grp(4)}, '') AS INTEGER), 0) * 60"
        f" + coalesce(try_cast(nullif({grp(5)}, '') AS INTEGER), 0))"
    )
    common = " ".join(
        f"WHEN regexp_full_match({value}, '{pattern}') THEN try_strptime({value}, '{fmt}')"
        for pattern, fmt in _COMMON
    )
    return (
        f"CASE {common} WHEN regexp_full_match({value}, '{p}') THEN"
        f" try_cast(coalesce(nullif({grp(1)}, ''), {grp(2)}) AS TIMESTAMP)"
        f" - to_minutes({minutes}) END"
    )


def is_instant(kind: pa.DataType) -> bool:
    """A typed timestamp column SQL reads for sure (to the microsecond; nanoseconds are not)."""
    return bool(pa.types.is_timestamp(kind) and kind.unit in ("s", "ms", "us"))


def instant_sql(column: str, kind: pa.DataType) -> str:
    """SQL: the naive UTC ``TIMESTAMP`` of a typed timestamp column (``is_instant``), NULL for
    a year outside 1000 to 8999. Naive values are UTC, as ``parse_timestamp`` takes them."""
    at = f"make_timestamp(epoch_us({column}))" if kind.tz else f"CAST({column} AS TIMESTAMP)"
    return f"CASE WHEN year({at}) BETWEEN 1000 AND 8999 THEN {at} END"


def _older(value: object, lower: datetime) -> bool:
    try:
        return parse_timestamp(value) < lower
    except SkippableError:
        return False  # validation will quarantine it with the reason


def keep_since(page: pa.RecordBatch, field: str, lower: datetime) -> np.ndarray:
    """Which rows of ``page`` to keep: those whose ``field`` is not before ``lower`` (rows
    without it, or with a value that is no timestamp, are kept: validation judges them)."""
    n = page.num_rows
    if field not in page.schema.names:
        return np.ones(n, dtype=bool)
    column = page.column(field)
    text = pa.types.is_string(column.type) or pa.types.is_large_string(column.type)
    if pa.types.is_dictionary(column.type):
        text = pa.types.is_string(column.type.value_type)
    if text or is_instant(column.type):
        sql = iso_sql("CAST(v AS VARCHAR)") if text else instant_sql("v", column.type)
        con = engine()
        con.register("cursor_values", pa.table({"v": column, "i": np.arange(n)}))
        try:
            rows = con.sql(
                f"SELECT ({sql})::TIMESTAMP AS t FROM cursor_values ORDER BY i"
            ).to_arrow_table()
        finally:
            con.unregister("cursor_values")
        parsed = rows.column("t").to_numpy(zero_copy_only=False)
    else:
        parsed = np.full(n, np.datetime64("NaT"), dtype="datetime64[us]")
    naive = np.datetime64(lower.astimezone(UTC).replace(tzinfo=None), "us")
    sure = ~np.isnat(parsed)
    keep = np.ones(n, dtype=bool)
    keep[sure] = parsed[sure] >= naive
    unsure = np.flatnonzero(~sure)
    if len(unsure):
        raw = column.take(pa.array(unsure)).to_pylist()
        cache: dict[object, bool] = {}
        for i, value in zip(unsure, raw, strict=True):
            if value is None or value == "":
                continue
            if not isinstance(value, str | int | float):  # a datetime or a nested value
                keep[i] = not _older(value, lower)
            elif (key := (type(value), value)) in cache:
                keep[i] = cache[key]
            else:
                keep[i] = cache[key] = not _older(value, lower)
    return keep
