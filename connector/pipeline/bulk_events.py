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

import json
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from connector.pipeline.bulk_common import (
    ASCII,
    CLEAN,
    KIND,
    PLAIN_ID,
    identity_sigs,
    ids_sql,
    is_text,
    map_distinct,
    match,
    quote,
)
from connector.schema.bulk_time import engine, instant_sql, is_instant, iso_sql
from connector.schema.jsonvalues import json_object
from connector.schema.normalise import normalise_email, normalise_phone
from connector.store.events_in import EVENT_SCHEMA

__all__ = ["BulkEvents", "validate_events"]


_TEXT_FIELDS = ("source_event_id", "type", "occurred_at", "email", "phone", "currency")
_HANDLED = frozenset({*_TEXT_FIELDS, "revenue", "properties", "ids", "_invalid"})


@dataclass(frozen=True, slots=True)
class BulkEvents:
    """Accepted rows (``EVENT_SCHEMA`` plus ``idx``, their row in the page), the rows to
    validate one by one, and the latest accepted ``occurred_at``."""

    accepted: pa.Table
    exact: np.ndarray
    latest: datetime | None


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
            if not (is_text(kind) and match(KIND, tail)):
                return None
            plan[name] = name
        elif name in _HANDLED:
            ok = is_text(kind) or (name == "revenue" and _is_number(kind))
            ok = ok or (name == "occurred_at" and is_instant(kind))
            if not ok or name in ("ids", "_invalid"):
                return None
            plan[name] = name
    return plan


def _sql(plan: dict[str, str], schema: pa.Schema) -> str:
    def text(field: str) -> str:
        if field not in plan or not is_text(schema.field(plan[field]).type):
            return "NULL::VARCHAR"
        return f"nullif(CAST({quote(plan[field])} AS VARCHAR), '')"

    kinds = sorted(k.partition(".")[2] for k in plan if k.startswith("ids."))
    inner = [f"{text(f)} AS {f}" for f in (*_TEXT_FIELDS, "properties")]
    inner += [f"{text('ids.' + k)} AS {quote('i_' + k)}" for k in kinds]
    at = plan.get("occurred_at")
    kind = schema.field(at).type if at else None
    typed = instant_sql(quote(at), kind) if at and is_instant(kind) else "NULL::TIMESTAMP"
    inner.append(f"{typed} AS typed_at")
    if "revenue" not in plan:
        inner.append("NULL::DOUBLE AS rev, NULL::VARCHAR AS rev_text")
    elif is_text(schema.field(plan["revenue"]).type):
        inner.append(f"NULL::DOUBLE AS rev, {text('revenue')} AS rev_text")
    else:
        inner.append(f"CAST({quote(plan['revenue'])} AS DOUBLE) AS rev, NULL::VARCHAR AS rev_text")
    ids_json, ids_keys = ids_sql(kinds)
    checks = [
        f"source_event_id IS NOT NULL AND regexp_full_match(source_event_id, '{CLEAN}')"
        " AND strlen(source_event_id) <= 256",
        "regexp_full_match(type, '[a-z][a-z0-9_]{0,63}')",
        "ts IS NOT NULL AND ts <= $horizon",
        f"email IS NULL OR (regexp_full_match(email, '{CLEAN}') AND strlen(email) <= 512)",
        f"phone IS NULL OR (regexp_full_match(phone, '{CLEAN}') AND strlen(phone) <= 64)",
        f"currency IS NULL OR (regexp_full_match(currency, '{ASCII}') AND strlen(currency) <= 3)",
        f"properties IS NULL OR regexp_full_match(properties, '{CLEAN}')",
        "rev_text IS NULL OR regexp_full_match(rev_text, '-?[0-9]{1,12}(\\.[0-9]{1,6})?')",
        "rev IS NULL OR isnan(rev) OR (isfinite(rev) AND abs(rev) <= 1e12)",
        *(
            f"{quote('i_' + k)} IS NULL OR (regexp_full_match({quote('i_' + k)}, '{PLAIN_ID}')"
            f" AND strlen({quote('i_' + k)}) <= 256)"
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


def _properties(text: str) -> str:
    """The stored text of a properties JSON text, as the record path stores it."""
    value = json_object({"properties": json.loads(text)}, "properties")
    return json.dumps(value, sort_keys=True, default=str) if value else "{}"


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
    email, email_ok = map_distinct(staged["email"], normalise_email)
    phone, phone_ok = map_distinct(staged["phone"], lambda v: normalise_phone(v, region))
    props, props_ok = map_distinct(staged["properties"], _properties)
    named = pc.or_(
        pc.or_(pc.is_valid(email), pc.is_valid(phone)), pc.is_valid(staged["ids_keys"])
    ).to_numpy(zero_copy_only=False)
    fast = staged["fast"].to_numpy(zero_copy_only=False) & email_ok & phone_ok & props_ok & named
    keep = pa.array(fast)
    taken = staged.filter(keep)
    email, phone = email.filter(keep), phone.filter(keep)
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
            "id_sig": identity_sigs(email, phone, taken["ids_keys"]),
            "revenue": taken["revenue"].cast(pa.float64()),
            "currency": taken["currency"],
            "properties": props.filter(keep).fill_null("{}"),
            "idx": taken["idx"],
        }
    )
    latest = pc.max(accepted["occurred_at"]).as_py() if accepted.num_rows else None
    return BulkEvents(accepted, np.flatnonzero(~fast), latest)
