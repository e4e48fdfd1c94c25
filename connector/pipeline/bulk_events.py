"""Validate a page of events at once: SQL for what SQL can decide, Python once per distinct value.

The record-at-a-time rules (``validate_event``) stay the definition. A row is accepted here
only when every value has a shape whose outcome is certain: text that ``strip`` leaves alone,
within its length limit; a snake_case type; a timestamp ``bulk_time`` parses for sure and that
is not in the future; identity ids in printable ASCII (so their JSON needs no escapes). E-mail
addresses, phone numbers and properties go through the very normalisers of the record path,
once per distinct value. Every other row is "exact": the caller validates it record by record,
which gives it the same reason and the same quarantine as before. A property test holds the
two paths equal on hostile pages.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from connector.errors import SkippableError
from connector.schema.bulk_time import engine, instant_sql, is_instant, iso_sql
from connector.schema.jsonvalues import json_object
from connector.schema.normalise import normalise_email, normalise_phone
from connector.store.events_in import EVENT_SCHEMA

__all__ = ["BulkEvents", "validate_events"]


_TEXT_FIELDS = ("source_event_id", "type", "occurred_at", "email", "phone", "currency")
_HANDLED = frozenset({*_TEXT_FIELDS, "revenue", "properties", "ids", "_invalid"})
_KIND = r"[a-z][a-z0-9_]{0,39}"
# text that str.strip() leaves as it is: printable ASCII at both ends
_CLEAN = r"(?s)[\x21-\x7e](?:.*[\x21-\x7e])?"
_ASCII = r"[\x21-\x7e](?:[\x20-\x7e]*[\x21-\x7e])?"
# printable ASCII without '"' and '\\': its JSON text is itself
_PLAIN_ID = r"[\x21\x23-\x5b\x5d-\x7e](?:[\x20\x21\x23-\x5b\x5d-\x7e]*[\x21\x23-\x5b\x5d-\x7e])?"
_EXPECTED = (SkippableError, ValueError, TypeError, RecursionError, OverflowError)


@dataclass(frozen=True, slots=True)
class BulkEvents:
    """Accepted rows (``EVENT_SCHEMA`` plus ``idx``, their row in the page), the rows to
    validate one by one, and the latest accepted ``occurred_at``."""

    accepted: pa.Table
    exact: np.ndarray
    latest: datetime | None


def _is_text(kind: pa.DataType) -> bool:
    if pa.types.is_dictionary(kind):
        kind = kind.value_type
    return bool(pa.types.is_string(kind) or pa.types.is_large_string(kind))


def _is_number(kind: pa.DataType) -> bool:
    return bool(pa.types.is_integer(kind) or pa.types.is_floating(kind))


def _plan(schema: pa.Schema) -> dict[str, str] | None:
    """Column per field (``ids.<kind>`` keys for ids), or None when the page must go record
    by record (a type or a name the bulk rules do not cover)."""
    names = schema.names
    if len(set(names)) != len(names):
        return None
    plan: dict[str, str] = {}
    for field in schema:
        name, kind = field.name, field.type
        head, dot, tail = name.partition(".")
        if pa.types.is_null(kind):
            continue
        if dot and head == "ids":
            if not (_is_text(kind) and _match(_KIND, tail)):
                return None
            plan[name] = name
        elif name in _HANDLED:
            ok = _is_text(kind) or (name == "revenue" and _is_number(kind))
            ok = ok or (name == "occurred_at" and is_instant(kind))
            if not ok or name in ("ids", "_invalid"):
                return None
            plan[name] = name
    return plan


def _match(pattern: str, text: str) -> bool:
    return re.fullmatch(pattern, text) is not None


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _sql(plan: dict[str, str], schema: pa.Schema) -> str:
    def text(field: str) -> str:
        if field not in plan or not _is_text(schema.field(plan[field]).type):
            return "NULL::VARCHAR"
        return f"nullif(CAST({_q(plan[field])} AS VARCHAR), '')"

    kinds = sorted(k.partition(".")[2] for k in plan if k.startswith("ids."))
    inner = [f"{text(f)} AS {f}" for f in (*_TEXT_FIELDS, "properties")]
    inner += [f"{text('ids.' + k)} AS {_q('i_' + k)}" for k in kinds]
    at = plan.get("occurred_at")
    kind = schema.field(at).type if at else None
    typed = instant_sql(_q(at), kind) if at and is_instant(kind) else "NULL::TIMESTAMP"
    inner.append(f"{typed} AS typed_at")
    if "revenue" not in plan:
        inner.append("NULL::DOUBLE AS rev, NULL::VARCHAR AS rev_text")
    elif _is_text(schema.field(plan["revenue"]).type):
        inner.append(f"NULL::DOUBLE AS rev, {text('revenue')} AS rev_text")
    else:
        inner.append(f"CAST({_q(plan['revenue'])} AS DOUBLE) AS rev, NULL::VARCHAR AS rev_text")
    if kinds:
        parts = ", ".join(
            f"CASE WHEN {_q('i_' + k)} IS NOT NULL THEN '\"{k}\": \"' || {_q('i_' + k)} || '\"' END"
            for k in kinds
        )
        ids_json = f"'{{' || concat_ws(', ', {parts}) || '}}'"
        keys = ", ".join(f"'{k}:' || {_q('i_' + k)}" for k in kinds)
        ids_keys = f"nullif(concat_ws(chr(31), {keys}), '')"
    else:
        ids_json, ids_keys = "'{}'", "NULL::VARCHAR"
    checks = [
        f"source_event_id IS NOT NULL AND regexp_full_match(source_event_id, '{_CLEAN}')"
        " AND strlen(source_event_id) <= 256",
        "regexp_full_match(type, '[a-z][a-z0-9_]{0,63}')",
        "ts IS NOT NULL AND ts <= $horizon",
        f"email IS NULL OR (regexp_full_match(email, '{_CLEAN}') AND strlen(email) <= 512)",
        f"phone IS NULL OR (regexp_full_match(phone, '{_CLEAN}') AND strlen(phone) <= 64)",
        f"currency IS NULL OR (regexp_full_match(currency, '{_ASCII}') AND strlen(currency) <= 3)",
        f"properties IS NULL OR regexp_full_match(properties, '{_CLEAN}')",
        "rev_text IS NULL OR regexp_full_match(rev_text, '-?[0-9]{1,12}(\\.[0-9]{1,6})?')",
        "rev IS NULL OR isnan(rev) OR (isfinite(rev) AND abs(rev) <= 1e12)",
        *(
            f"{_q('i_' + k)} IS NULL OR (regexp_full_match({_q('i_' + k)}, '{_PLAIN_ID}')"
            f" AND strlen({_q('i_' + k)}) <= 256)"
            for k in kinds
        ),
    ]
    fast = " AND ".join(f"coalesce({c}, false)" for c in checks)
    return f"""
        WITH raw AS (SELECT idx, {", ".join(inner)} FROM page),
        typed AS (SELECT *, coalesce(typed_at, {iso_sql("occurred_at")}) AS ts FROM raw)
        SELECT idx, $source || ':' || source_event_id AS event_id, source_event_id, type,
            ts AS occurred_at, email, phone, {ids_json} AS ids, {ids_keys} AS ids_keys,
            CASE WHEN isnan(coalesce(rev, 0)) THEN NULL
                 ELSE coalesce(rev, try_cast(rev_text AS DOUBLE)) END AS revenue,
            upper(currency) AS currency, properties, {fast} AS fast
        FROM typed ORDER BY idx"""


def _map_distinct(
    column: pa.ChunkedArray, normalise: Callable[[str], str | None]
) -> tuple[pa.Array, np.ndarray]:
    """Each value normalised once per distinct value; False where the normaliser refused."""
    uniq = pc.unique(column).drop_null()
    out: list[str | None] = []
    good: list[bool] = []
    for value in uniq.to_pylist():
        try:
            out.append(normalise(value))
            good.append(True)
        except _EXPECTED:
            out.append(None)
            good.append(False)
    pos = pc.index_in(column, value_set=uniq)
    mapped = pc.take(pa.array(out, pa.string()), pos)
    ok = pc.take(pa.array(good, pa.bool_()), pos).fill_null(True)
    return mapped, ok.to_numpy(zero_copy_only=False)


def _properties(text: str) -> str:
    """The stored text of a properties JSON text, as the record path stores it."""
    value = json_object({"properties": json.loads(text)}, "properties")
    return json.dumps(value, sort_keys=True, default=str) if value else "{}"


def _signatures(keys: pa.Array) -> pa.Array:
    """``identity_signature`` of each row's identity keys, once per distinct keys text."""
    cache: dict[str, str] = {}
    out = []
    for text in keys.to_pylist():
        sig = cache.get(text)
        if sig is None:
            sig = hashlib.blake2b(text.encode(), digest_size=12).hexdigest()
            cache[text] = sig
        out.append(sig)
    return pa.array(out, pa.string())


def validate_events(page: pa.Table, *, source: str, region: str, horizon: datetime) -> BulkEvents:
    """Split a page into rows accepted here and rows to validate record by record."""
    n = page.num_rows
    plan = _plan(page.schema)
    if plan is None or n == 0:
        return BulkEvents(
            EVENT_SCHEMA.append(pa.field("idx", pa.int64())).empty_table(), np.arange(n), None
        )
    con = engine()
    con.register("page", page.append_column("idx", pa.array(np.arange(n, dtype=np.int64))))
    try:
        staged = con.sql(
            _sql(plan, page.schema),
            params={"source": source, "horizon": horizon.astimezone(UTC).replace(tzinfo=None)},
        ).to_arrow_table()
    finally:
        con.unregister("page")
    email, email_ok = _map_distinct(staged["email"], normalise_email)
    phone, phone_ok = _map_distinct(staged["phone"], lambda v: normalise_phone(v, region))
    props, props_ok = _map_distinct(staged["properties"], _properties)
    named = pc.or_(
        pc.or_(pc.is_valid(email), pc.is_valid(phone)), pc.is_valid(staged["ids_keys"])
    ).to_numpy(zero_copy_only=False)
    fast = staged["fast"].to_numpy(zero_copy_only=False) & email_ok & phone_ok & props_ok & named
    keep = pa.array(fast)
    taken = staged.filter(keep)
    email, phone = email.filter(keep), phone.filter(keep)
    keys = pc.binary_join_element_wise(
        pc.binary_join_element_wise("email:", email, ""),
        pc.binary_join_element_wise("phone:", phone, ""),
        taken["ids_keys"],
        "\x1f",
        null_handling="skip",
    )
    accepted = pa.table(
        {
            "event_id": taken["event_id"],
            "source": pa.array([source] * taken.num_rows, pa.string()),
            "source_event_id": taken["source_event_id"],
            "type": taken["type"],
            "occurred_at": taken["occurred_at"].cast(pa.timestamp("us")),
            "email": email,
            "phone": phone,
            "ids": taken["ids"],
            "id_sig": _signatures(keys.combine_chunks()),
            "revenue": taken["revenue"].cast(pa.float64()),
            "currency": taken["currency"],
            "properties": props.filter(keep).fill_null("{}"),
            "idx": taken["idx"],
        }
    )
    latest = pc.max(accepted["occurred_at"]).as_py() if accepted.num_rows else None
    return BulkEvents(accepted, np.flatnonzero(~fast), latest)
