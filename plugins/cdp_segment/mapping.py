"""Segment messages → canonical event and profile records (connector.schema.records layout).

The same mapping serves the S3 archive and the webhook spool, since both carry the full call
JSON. The parser is tolerant: the per-line envelope of S3 files is not documented field by
field (facts section 3.3), so only ``type`` and one of ``userId``/``anonymousId`` are needed.

Identity: ``userId`` → ``segment_user_id``, ``anonymousId`` → ``segment_anonymous_id``; one
record naming both is what lets the core's union-find join anonymous browsing to the customer.
``alias`` carries ``previousId``; we file it as ``segment_anonymous_id`` because that is what
analytics.js sends (the anonymous id of the device being identified). A ``previousId`` that was
an older userId then links nothing wrong, it just does not join that old user's events.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from typing import Any

from connector.sdk import SkippableError, normalise_email, normalise_phone

__all__ = ["TRACK_TYPES", "event_record", "profile_record"]

# Ecommerce spec v2 (segment-docs src/connections/spec/ecommerce/v2.md) → canonical types.
TRACK_TYPES = {
    "order completed": "order_completed",
    "product viewed": "product_viewed",
    "product added": "added_to_cart",
    "checkout started": "checkout_started",
}
_CALL_TYPES = {
    "page": "page_viewed",
    "screen": "screen_viewed",
    "identify": "identify",
    "alias": "alias",
    "group": "group",
}
_NON_SNAKE = re.compile(r"[^a-z0-9]+")
_NAME_KEYS = {
    "firstName": "first_name",
    "first_name": "first_name",
    "lastName": "last_name",
    "last_name": "last_name",
}
_ADDRESS_KEYS = {
    "city": "city",
    "postalCode": "postal_code",
    "postal_code": "postal_code",
    "country": "country",
}


def _event_type(msg: Mapping[str, Any]) -> str | None:
    kind = msg.get("type")
    if kind == "track":
        name = str(msg.get("event") or "").strip()
        if not name:
            return None
        mapped = TRACK_TYPES.get(name.lower())
        if mapped:
            return mapped
        snake = _NON_SNAKE.sub("_", name.lower()).strip("_")[:64]
        return snake if snake[:1].isalpha() else f"track_{snake}"[:64]
    return _CALL_TYPES.get(str(kind))


def _ids(msg: Mapping[str, Any]) -> dict[str, str]:
    ids: dict[str, str] = {}
    if msg.get("userId") not in (None, ""):
        ids["segment_user_id"] = str(msg["userId"])
    anon = msg.get("anonymousId")
    if msg.get("type") == "alias" and msg.get("previousId") not in (None, ""):
        anon = msg["previousId"]
    if anon not in (None, ""):
        ids["segment_anonymous_id"] = str(anon)
    return ids


def _traits(msg: Mapping[str, Any]) -> dict[str, Any]:
    traits = msg.get("traits")
    if not isinstance(traits, Mapping):
        context = msg.get("context")
        traits = context.get("traits") if isinstance(context, Mapping) else None
    return dict(traits) if isinstance(traits, Mapping) else {}


def _contact(traits: dict[str, Any], region: str) -> dict[str, Any]:
    """Pull email and phone out of traits; a malformed one stays a plain trait.

    The core quarantines a record whose email or phone does not normalise; one bad phone in
    an identify call must not cost us the event, so we check first and keep it as a trait.
    """
    out: dict[str, Any] = {}
    for key, check in (("email", normalise_email), ("phone", normalise_phone)):
        value = traits.pop(key, None)
        if not isinstance(value, str) or not value.strip():
            continue
        try:
            check(value) if key == "email" else check(value, region)
        except SkippableError:
            traits[f"{key}_unparsed"] = value
            continue
        out[key] = value
    return out


def message_id(msg: Mapping[str, Any], line: str | bytes | None = None) -> str:
    """``messageId``, or a digest of the raw line for the rare message without one."""
    mid = msg.get("messageId")
    if mid not in (None, ""):
        # JSON may escape a lone surrogate ("\ud800"), which no UTF-8 store can hold
        return str(mid)[:256].encode("utf-8", "replace").decode("utf-8")
    raw = line if line is not None else json.dumps(msg, sort_keys=True)
    data = raw.encode() if isinstance(raw, str) else raw
    return "sha1:" + hashlib.sha1(data, usedforsecurity=False).hexdigest()


def event_record(msg: Mapping[str, Any], *, source_id: str, region: str) -> dict[str, Any] | None:
    """The canonical event for one message, or None for calls that are not events (delete)."""
    etype = _event_type(msg)
    ids = _ids(msg)
    if etype is None or not ids:
        return None
    props = msg.get("properties")
    props = dict(props) if isinstance(props, Mapping) else {}
    record: dict[str, Any] = {
        "source_event_id": message_id(msg),
        "type": etype,
        "occurred_at": msg.get("timestamp")
        or msg.get("originalTimestamp")
        or msg.get("receivedAt"),
        "ids": ids,
    }
    traits = _traits(msg)
    record.update(_contact(traits, region))
    if etype in ("order_completed", "checkout_started"):
        revenue = props.get("revenue", props.get("total", props.get("value")))
        if isinstance(revenue, int | float) and not isinstance(revenue, bool):
            record["revenue"] = revenue
        if isinstance(props.get("currency"), str):
            record["currency"] = props["currency"][:3]
        if isinstance(props.get("products"), list):
            props["products"] = [_product(p) for p in props["products"] if isinstance(p, Mapping)]
    elif etype in ("product_viewed", "added_to_cart"):
        props = {**props, "products": [_product(props)]}
    if msg.get("type") == "track":
        props["segment_event"] = str(msg.get("event"))[:200]
    if msg.get("type") == "page" and msg.get("name"):
        props.setdefault("name", msg["name"])
    if msg.get("type") == "identify" and traits:
        props["traits"] = traits
    props["segment_source"] = source_id
    record["properties"] = props
    return record


def _product(p: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "id": str(p.get("product_id") or p.get("sku") or p.get("id") or ""),
        "name": p.get("name"),
        "category": p.get("category"),
        "price": p.get("price"),
        "quantity": p.get("quantity", 1),
    }


def profile_record(msg: Mapping[str, Any], *, region: str) -> dict[str, Any] | None:
    """A profile from an identify call: only the fields this call carries (a partial update)."""
    if msg.get("type") != "identify":
        return None
    ids = _ids(msg)
    if not ids:
        return None
    traits = _traits(msg)
    source_id = ids.get("segment_user_id") or f"anonymous:{ids['segment_anonymous_id']}"
    record: dict[str, Any] = {"source_id": source_id, "ids": ids}
    record.update(_contact(traits, region))
    for key, target in _NAME_KEYS.items():
        if isinstance(traits.get(key), str):
            record[target] = traits.pop(key)
    address = traits.pop("address", None)
    if isinstance(address, Mapping):
        for key, target in _ADDRESS_KEYS.items():
            if isinstance(address.get(key), str):
                record[target] = address[key]
        rest = {k: v for k, v in address.items() if k not in _ADDRESS_KEYS}
        if rest:
            traits["address"] = rest
    if isinstance(traits.get("createdAt"), str | int):
        record["created_at"] = traits.pop("createdAt")
    record["updated_at"] = msg.get("timestamp") or msg.get("receivedAt")
    record["traits"] = traits
    return record
