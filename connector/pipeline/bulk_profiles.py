"""Validate a page of profile records at once: SQL for what SQL can decide, Python once per
distinct value.

``validate_profile`` stays the definition. A row is accepted here only when it is a live record
(``deleted`` absent or plainly false, no ``merged_into``) whose every value has a shape with a
certain outcome: text that ``strip`` leaves alone, within its length limit; identity ids in
printable ASCII; timestamps ``bulk_time`` parses for sure (``updated_at`` not in the future);
consent statuses spelled in ASCII letters (granted, denied or unknown in any case), dated by
``consent_at`` or else ``updated_at`` exactly as the record path dates them. E-mail, phone and
country go through the record path's own normalisers, once per distinct value; traits through
its own ``json_object``. Every other row is "exact": the caller validates it record by record,
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
    CLEAN,
    EXPECTED,
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
from connector.schema.normalise import normalise_country, normalise_email, normalise_phone
from connector.store.profiles_in import PROFILE_SCHEMA

__all__ = ["BulkProfiles", "validate_profiles"]

# text fields and their length limits in validate_profile
_TEXT = {
    "source_id": 256,
    "email": 512,
    "phone": 64,
    "first_name": 128,
    "last_name": 128,
    "city": 128,
    "postal_code": 32,
    "country": 80,
    "merged_into": 256,
}
_TIMES = ("created_at", "updated_at", "consent_at")
_CHANNELS = ("email", "sms", "ads")
_FLAG_FALSE = "[Ff][Aa][Ll][Ss][Ee]|0|[Nn][Oo]?|[Ff]|0\\.0"


@dataclass(frozen=True, slots=True)
class BulkProfiles:
    """Accepted rows (``PROFILE_SCHEMA`` plus ``idx``, their row in the page), the rows to
    validate one by one, and the latest accepted ``updated_at``."""

    accepted: pa.Table
    exact: np.ndarray
    latest: datetime | None


def _plan(schema: pa.Schema) -> dict[str, pa.DataType] | None:
    """The columns the rules read, or None when the page must go record by record."""
    names = schema.names
    if len(set(names)) != len(names):
        return None
    plan: dict[str, pa.DataType] = {}
    for field in schema:
        name, kind = field.name, field.type
        head, dot, tail = name.partition(".")
        if pa.types.is_null(kind) or name in ("deleted_at", "_record"):
            continue  # deleted_at is read for tombstones only, which go record by record
        if name in ("ids", "consent", "traits", "_invalid"):
            return None
        if dot and head in ("ids", "consent", "traits"):
            ok = is_text(kind) and (
                (head == "ids" and match(KIND, tail))
                or (head == "consent" and tail in _CHANNELS)
                or head == "traits"
            )
        elif name in _TEXT:
            ok = is_text(kind)
        elif name in _TIMES:
            ok = is_text(kind) or is_instant(kind)
        elif name == "deleted":
            ok = is_text(kind) or pa.types.is_boolean(kind)
        else:
            continue  # not read by validate_profile
        if not ok:
            return None
        plan[name] = kind
    return plan


def _text(plan: dict[str, pa.DataType], name: str) -> str:
    if name not in plan or not is_text(plan[name]):
        return "NULL::VARCHAR"
    return f"nullif(CAST({quote(name)} AS VARCHAR), '')"


def _time(plan: dict[str, pa.DataType], name: str) -> tuple[str, str]:
    """SQL for (the value is present, its naive UTC timestamp or NULL when unsure)."""
    if name not in plan:
        return "false", "NULL::TIMESTAMP"
    if is_text(plan[name]):
        text = _text(plan, name)
        return f"{text} IS NOT NULL", iso_sql(text)
    return f"{quote(name)} IS NOT NULL", instant_sql(quote(name), plan[name])


def _checks(plan: dict[str, pa.DataType], kinds: list[str], traits: list[str]) -> str:
    checks = ["source_id IS NOT NULL", "merged_into IS NULL"]
    checks += [
        f"{f} IS NULL OR (regexp_full_match({f}, '{CLEAN}') AND strlen({f}) <= {limit})"
        for f, limit in _TEXT.items()
    ]
    checks += [f"NOT has_{t} OR t_{t} IS NOT NULL" for t in _TIMES]
    checks.append("t_updated_at IS NULL OR t_updated_at <= $horizon")
    if "deleted" in plan and pa.types.is_boolean(plan["deleted"]):
        checks.append("NOT coalesce(deleted, false)")
    else:
        checks.append(f"deleted IS NULL OR regexp_full_match(deleted, '{_FLAG_FALSE}')")
    checks += [
        f"c_{ch} IS NULL OR (regexp_full_match(c_{ch}, '[A-Za-z]+')"
        f" AND lower(c_{ch}) IN ('granted', 'denied', 'unknown'))"
        for ch in _CHANNELS
    ]
    checks += [
        f"{quote('i_' + k)} IS NULL OR (regexp_full_match({quote('i_' + k)}, '{PLAIN_ID}')"
        f" AND strlen({quote('i_' + k)}) <= 256)"
        for k in kinds
    ]
    # a trait whose text Python's strip() might empty is left to the record path
    checks += [f"{quote(t)} IS NULL OR regexp_matches({quote(t)}, '[!-~]')" for t in traits]
    return " AND ".join(f"coalesce({c}, false)" for c in checks)


def _sql(plan: dict[str, pa.DataType]) -> str:
    kinds = sorted(k.partition(".")[2] for k in plan if k.startswith("ids."))
    traits = [t for t in plan if t.startswith("traits.")]
    inner = [f"{_text(plan, f)} AS {f}" for f in _TEXT]
    if "deleted" in plan and pa.types.is_boolean(plan["deleted"]):
        inner.append("deleted")
    else:
        inner.append(f"{_text(plan, 'deleted')} AS deleted")
    inner += [f"{_text(plan, 'consent.' + ch)} AS c_{ch}" for ch in _CHANNELS]
    inner += [f"{_text(plan, 'ids.' + k)} AS {quote('i_' + k)}" for k in kinds]
    inner += [f"{_text(plan, t)} AS {quote(t)}" for t in traits]
    for t in _TIMES:
        has, at = _time(plan, t)
        inner += [f"{has} AS has_{t}", f"({at})::TIMESTAMP AS t_{t}"]
    ids_json, ids_keys = ids_sql(kinds)
    consent = []
    for ch in _CHANNELS:
        consent.append(f"lower(c_{ch}) AS consent_{ch}")
        consent.append(
            f"CASE WHEN c_{ch} IS NOT NULL THEN coalesce(t_consent_at, t_updated_at) END"
            f" AS consent_{ch}_at"
        )
    return f"""
        WITH raw AS (SELECT idx, {", ".join(inner)} FROM page)
        SELECT idx, source_id, email, phone, {ids_json} AS ids, {ids_keys} AS ids_keys,
            first_name, last_name, city, postal_code, country,
            t_created_at AS created_at, t_updated_at AS updated_at, {", ".join(consent)},
            {", ".join(quote(t) for t in traits) + "," if traits else ""}
            {_checks(plan, kinds, traits)} AS fast
        FROM raw ORDER BY idx"""


def _traits(staged: pa.Table, names: list[str]) -> tuple[pa.Array, np.ndarray]:
    """Each row's traits as the record path stores them (``json_object``), once per distinct
    set of values; False where the record path would refuse them (too large)."""
    n = staged.num_rows
    if not names:
        return pa.array(["{}"] * n, pa.string()), np.ones(n, dtype=bool)
    keys = [t.partition(".")[2] for t in names]
    columns = [staged[t].to_pylist() for t in names]
    cache: dict[tuple[str | None, ...], str | None] = {}
    out: list[str | None] = []
    for values in zip(*columns, strict=True):
        if values not in cache:
            raw = {k: v for k, v in zip(keys, values, strict=True) if v is not None}
            try:
                traits = json_object({"traits": raw}, "traits")
                cache[values] = json.dumps(traits, sort_keys=True, default=str)
            except EXPECTED:  # larger than the limit
                cache[values] = None
        out.append(cache[values])
    text = pa.array(out, pa.string())
    return text, pc.is_valid(text).to_numpy(zero_copy_only=False)


def validate_profiles(
    page: pa.Table, *, source: str, region: str, horizon: datetime
) -> BulkProfiles:
    """Split a page into live rows accepted here and rows to validate record by record."""
    n = page.num_rows
    plan = _plan(page.schema)
    empty = PROFILE_SCHEMA.append(pa.field("idx", pa.int64())).empty_table()
    if plan is None or n == 0:
        return BulkProfiles(empty, np.arange(n), None)
    con = engine()
    con.register("page", page.append_column("idx", pa.array(np.arange(n, dtype=np.int64))))
    try:
        staged = con.sql(
            _sql(plan), params={"horizon": horizon.astimezone(UTC).replace(tzinfo=None)}
        ).to_arrow_table()
    finally:
        con.unregister("page")
    email, email_ok = map_distinct(staged["email"], normalise_email)
    phone, phone_ok = map_distinct(staged["phone"], lambda v: normalise_phone(v, region))
    country, country_ok = map_distinct(staged["country"], normalise_country)
    traits, traits_ok = _traits(staged, [t for t in plan if t.startswith("traits.")])
    named = pc.or_(
        pc.or_(pc.is_valid(email), pc.is_valid(phone)), pc.is_valid(staged["ids_keys"])
    ).to_numpy(zero_copy_only=False)
    fast = staged["fast"].to_numpy(zero_copy_only=False) & email_ok & phone_ok & country_ok
    fast &= traits_ok & named
    keep = pa.array(fast)
    taken = staged.filter(keep)
    email, phone = email.filter(keep), phone.filter(keep)
    columns = {
        "source": pa.array([source] * taken.num_rows, pa.string()),
        "email": email,
        "phone": phone,
        "id_sig": identity_sigs(email, phone, taken["ids_keys"]),
        "country": country.filter(keep),
        "traits": traits.filter(keep),
    }
    accepted = pa.table(
        {
            **{
                f.name: columns[f.name] if f.name in columns else taken[f.name].cast(f.type)
                for f in PROFILE_SCHEMA
            },
            "idx": taken["idx"],
        }
    )
    latest = pc.max(accepted["updated_at"]).as_py() if accepted.num_rows else None
    return BulkProfiles(accepted, np.flatnonzero(~fast), latest)
