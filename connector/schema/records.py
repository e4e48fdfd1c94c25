"""The canonical input layout every source yields, and its validation.

Sources map their platform's shape to plain dicts in this layout; the core validates and
normalises them here, so every plugin gets identical rules and every bad record the same
quarantine path.

Profile record keys (``source_id`` required, plus at least one identifier)::

    source_id      the record's id in its source (upsert key per source)
    email, phone   raw; normalised here (phone to E.164 with the configured default region)
    ids            {identity kind: value}, e.g. {"hubspot_id": "101", "segment_anonymous_id": "a1"}
    first_name, last_name, city, postal_code, country (any name or code → ISO alpha-2)
    created_at, updated_at   ISO-8601, epoch s/ms or datetime
    consent        {"email"|"sms"|"ads": "granted"|"denied"|"unknown"}; consent_at optional,
                   one time or {channel: time}; else the record's updated_at dates it
    traits         {name: JSON value}: anything else worth keeping (lifecycle stage, ...)

Tombstones: a source says a record it once yielded is gone with a profile record that needs
only ``source_id``; ``ids`` is optional and any other key is ignored::

    {"source_id": X, "deleted": true, "deleted_at": <timestamp, optional>}
        deleted or archived upstream. The stored record becomes a tombstone: it keeps its
        identifiers in the identity graph (so the person's events and what destinations hold
        stay addressable) but gives the profile no fields; a profile left with no live source
        record is inactive (not scored, not activated) and is removed from every list and
        audience on the same run. Not a privacy erasure: if the source yields the record alive
        later, it comes back, unless its ``updated_at`` is before ``deleted_at`` (or, without
        one, before the tombstone was received): re-reading an old version is no restore.
    {"source_id": X, "merged_into": Y}
        the source merged its record X into its record Y (same source): X's identifiers join
        Y's profile and X stops being a separate person.
    ``ids`` on a tombstone ({"hubspot_id": X}) names the gone record's own identifiers. They
    matter when the record was never read alive (archived or merged before the first read):
    the tombstone then stands in the graph for it, so events that name it (a deal's contact)
    join a gone person, or the survivor of its merge, instead of forming a person of their own.

``deleted`` accepts true/false, 1/0, yes/no (flat files spell it as text); ``deleted: false``
is an ordinary live record. ``ProfileRecord.tombstone`` says which a validated record is.

Event record keys (``source_event_id``, ``type`` and ``occurred_at`` required)::

    source_event_id   dedup key within the source
    type              canonical type (see EVENT_TYPES) or any snake_case custom type
    occurred_at       timestamp
    email, phone, ids identify the person (at least one)
    revenue, currency, properties ({"products": [{"id","name","category","price","quantity"}]})

A source that cannot even parse a record (a broken JSON line) yields
``{"_invalid": "<reason>", "source_id" or "source_event_id": "<file:line>"}`` so the record is
quarantined with that reason and counted, and the stream goes on.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from connector.errors import SkippableError
from connector.schema.jsonvalues import json_object
from connector.schema.models import CONSENT_CHANNELS, ConsentStatus
from connector.schema.normalise import (
    REPLACEMENT,
    normalise_country,
    normalise_email,
    normalise_phone,
    parse_timestamp,
)

__all__ = [
    "EVENT_FIELDS",
    "EVENT_TYPES",
    "NESTED_FIELDS",
    "PROFILE_FIELDS",
    "EventRecord",
    "ProfileRecord",
    "validate_event",
    "validate_profile",
]

# The canonical input layout's keys, read by ``validate_profile`` / ``validate_event``; a source
# names what it was given outside them (flat formats spell nested keys ``ids.<kind>``, ...).
PROFILE_FIELDS = (
    "source_id",
    "email",
    "phone",
    "first_name",
    "last_name",
    "city",
    "postal_code",
    "country",
    "created_at",
    "updated_at",
    "consent",
    "consent_at",
    "ids",
    "traits",
    "deleted",
    "deleted_at",
    "merged_into",
)
EVENT_FIELDS = (
    "source_event_id",
    "type",
    "occurred_at",
    "email",
    "phone",
    "ids",
    "revenue",
    "currency",
    "properties",
)
NESTED_FIELDS = ("ids", "traits", "consent")

EVENT_TYPES = frozenset(
    {
        "order_completed",
        # money taken back from an order: properties.order_id names it, revenue is the amount
        # (positive; null = the whole order); the models net it against the order
        "order_refunded",
        "order_cancelled",
        "product_viewed",
        "added_to_cart",
        "checkout_started",
        "email_opened",
        "email_clicked",
        "page_viewed",
        "session_started",
        "identify",
    }
)
_TYPE_RE = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
_KIND_RE = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
_MAX_ID_LEN = 256
_MAX_TEXT = 512


@dataclass(frozen=True, slots=True)
class ProfileRecord:
    source: str
    source_id: str
    email: str | None
    phone: str | None
    ids: dict[str, str]
    first_name: str | None
    last_name: str | None
    city: str | None
    postal_code: str | None
    country: str | None
    created_at: datetime | None
    updated_at: datetime | None
    consent: dict[str, tuple[ConsentStatus, datetime | None]]
    traits: dict[str, Any]
    warnings: tuple[str, ...] = field(default=())
    deleted: bool = False
    deleted_at: datetime | None = None
    merged_into: str | None = None

    @property
    def tombstone(self) -> bool:
        """True when the source says this record is gone (deleted, or merged into another)."""
        return self.deleted or self.merged_into is not None


@dataclass(frozen=True, slots=True)
class EventRecord:
    source: str
    source_event_id: str
    type: str
    occurred_at: datetime
    email: str | None
    phone: str | None
    ids: dict[str, str]
    revenue: float | None
    currency: str | None
    properties: dict[str, Any]
    warnings: tuple[str, ...] = field(default=())
    """Identifiers left out as not valid (the event stands on the others)."""


def _text(raw: Mapping[str, Any], key: str, limit: int = _MAX_TEXT) -> str | None:
    value = raw.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise SkippableError(f"{key} must be text, got {type(value).__name__}", field=key)
    text = str(value).strip()
    if len(text) > limit:
        raise SkippableError(f"{key} is longer than {limit} characters", field=key)
    return text or None


def _ids(raw: Mapping[str, Any]) -> dict[str, str]:
    value = raw.get("ids") or {}
    if not isinstance(value, Mapping):
        raise SkippableError("ids must be an object of {kind: id}", field="ids")
    out: dict[str, str] = {}
    for kind, ident in value.items():
        if ident is None or ident == "":
            continue
        if not isinstance(kind, str) or not _KIND_RE.match(kind):
            raise SkippableError(f"identity kind {str(kind)[:40]!r} is not snake_case", field="ids")
        if isinstance(ident, bool) or not isinstance(ident, str | int):
            raise SkippableError(f"ids.{kind} must be text", field="ids")
        text = str(ident).strip()
        if len(text) > _MAX_ID_LEN:
            raise SkippableError(f"ids.{kind} is too long", field="ids")
        if REPLACEMENT in text:
            raise SkippableError(
                f"ids.{kind} contains U+FFFD (text decoded with the wrong encoding)", field="ids"
            )
        if text:
            out[kind] = text
    return out


def _identifiers(
    raw: Mapping[str, Any], region: str, warnings: list[str]
) -> tuple[str | None, str | None]:
    """Normalised email and phone. One that is not valid (or a phone with an extension) is
    left out with a warning, and the record stands on its other identifiers: quarantining a
    profile for its phone number lost its e-mail, names and consent, so the person came back
    from their orders with no consent on record. The caller quarantines a record that has no
    identifier left, with these reasons."""
    email_raw = _text(raw, "email")
    phone_raw = _text(raw, "phone", 64)
    email = phone = None
    try:
        email = normalise_email(email_raw) if email_raw else None
    except SkippableError as exc:
        warnings.append(exc.reason)
    try:
        phone = normalise_phone(phone_raw, region) if phone_raw else None
    except SkippableError as exc:
        warnings.append(exc.reason)
    return email, phone


def _optional_ts(raw: Mapping[str, Any], key: str) -> datetime | None:
    value = raw.get(key)
    if value is None or value == "":
        return None
    return parse_timestamp(value, field=key)


def _consent(raw: Mapping[str, Any], default_at: datetime | None) -> dict[str, Any]:
    value = raw.get("consent") or {}
    if not isinstance(value, Mapping):
        raise SkippableError("consent must be an object of {channel: status}", field="consent")
    per_channel = dated if isinstance(dated := raw.get("consent_at"), Mapping) else None
    at = None if per_channel is not None else _optional_ts(raw, "consent_at")
    out: dict[str, tuple[ConsentStatus, datetime | None]] = {}
    for channel, status in value.items():
        if channel not in CONSENT_CHANNELS:
            raise SkippableError(
                f"consent channel {str(channel)[:20]!r} is unknown", field="consent"
            )
        when = at if per_channel is None else _optional_ts(per_channel, channel)
        try:
            out[channel] = (ConsentStatus(str(status).lower()), when or default_at)
        except ValueError:
            raise SkippableError(
                f"consent.{channel} must be granted, denied or unknown", field="consent"
            ) from None
    return out


_TRUE = frozenset({"true", "1", "yes", "y", "t"})
_FALSE = frozenset({"false", "0", "no", "n", "f", ""})


def _flag(raw: Mapping[str, Any], key: str) -> bool:
    value = raw.get(key)
    if value is None or isinstance(value, bool):
        return bool(value)
    if isinstance(value, int | float | str):
        text = str(value).strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE or text == "0.0":
            return False
    raise SkippableError(f"{key} must be true or false", field=key)


def _tombstone(raw: Mapping[str, Any], source: str, source_id: str) -> ProfileRecord | None:
    """The tombstone this record is, or None for a live record."""
    merged_into = _text(raw, "merged_into", _MAX_ID_LEN)
    deleted = _flag(raw, "deleted")
    if not (deleted or merged_into):
        return None
    if merged_into == source_id:
        raise SkippableError("merged_into names the record itself", field="merged_into")
    return ProfileRecord(
        source=source,
        source_id=source_id,
        email=None,
        phone=None,
        ids=_ids(raw),
        first_name=None,
        last_name=None,
        city=None,
        postal_code=None,
        country=None,
        created_at=None,
        updated_at=None,
        consent={},
        traits={},
        deleted=deleted,
        deleted_at=_optional_ts(raw, "deleted_at"),
        merged_into=merged_into,
    )


def validate_profile(raw: Mapping[str, Any], *, source: str, region: str) -> ProfileRecord:
    """Validate and normalise one profile record (or tombstone), or raise ``SkippableError``."""
    if not isinstance(raw, Mapping):
        raise SkippableError("profile record is not an object")
    source_id = _text(raw, "source_id", _MAX_ID_LEN)
    if not source_id:
        raise SkippableError("source_id is missing", field="source_id")
    if (gone := _tombstone(raw, source, source_id)) is not None:
        return gone
    warnings: list[str] = []
    email, phone = _identifiers(raw, region, warnings)
    ids = _ids(raw)
    if not (email or phone or ids):
        raise SkippableError(
            "; ".join([*warnings, "profile has no identifier (email, phone or ids)"])
        )
    country = None
    if (country_raw := _text(raw, "country", 80)) is not None:
        try:
            country = normalise_country(country_raw)
        except SkippableError as exc:
            warnings.append(exc.reason)
    updated_at = _optional_ts(raw, "updated_at")
    return ProfileRecord(
        source=source,
        source_id=source_id,
        email=email,
        phone=phone,
        ids=ids,
        first_name=_text(raw, "first_name", 128),
        last_name=_text(raw, "last_name", 128),
        city=_text(raw, "city", 128),
        postal_code=_text(raw, "postal_code", 32),
        country=country,
        created_at=_optional_ts(raw, "created_at"),
        updated_at=updated_at,
        consent=_consent(raw, updated_at),
        traits=json_object(raw, "traits"),
        warnings=tuple(warnings),
    )


def validate_event(raw: Mapping[str, Any], *, source: str, region: str) -> EventRecord:
    """Validate and normalise one event record, or raise ``SkippableError``."""
    if not isinstance(raw, Mapping):
        raise SkippableError("event record is not an object")
    event_id = _text(raw, "source_event_id", _MAX_ID_LEN)
    if not event_id:
        raise SkippableError("source_event_id is missing", field="source_event_id")
    etype = _text(raw, "type", 64)
    if not etype or not _TYPE_RE.match(etype):
        raise SkippableError("type is missing or not snake_case", field="type")
    if raw.get("occurred_at") in (None, ""):
        raise SkippableError("occurred_at is missing", field="occurred_at")
    occurred_at = parse_timestamp(raw["occurred_at"], field="occurred_at")
    dropped: list[str] = []
    email, phone = _identifiers(raw, region, dropped)
    ids = _ids(raw)
    if not (email or phone or ids):
        raise SkippableError("; ".join([*dropped, "event names no person (email, phone or ids)"]))
    revenue = raw.get("revenue")
    if revenue is not None and revenue != "":
        try:
            revenue = float(revenue)
        except (TypeError, ValueError):
            raise SkippableError("revenue is not a number", field="revenue") from None
        if not math.isfinite(revenue) or abs(revenue) > 1e12:
            raise SkippableError("revenue is not a finite amount", field="revenue")
    else:
        revenue = None
    currency = _text(raw, "currency", 3)
    return EventRecord(
        source=source,
        source_event_id=event_id,
        type=etype,
        occurred_at=occurred_at,
        email=email,
        phone=phone,
        ids=ids,
        revenue=revenue,
        currency=currency.upper() if currency else None,
        properties=json_object(raw, "properties"),
        warnings=tuple(dropped),
    )
