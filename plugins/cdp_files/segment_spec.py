"""Segment-spec messages (identify / track / page / alias) as canonical records.

Follows Segment's public spec: identify carries traits (email, phone, firstName, lastName,
address {city, postalCode, country}); track ``Order Completed`` carries revenue (or total) and
products (product_id/sku, name, category, price, quantity), per the e-commerce spec v2.
"""

from __future__ import annotations

import re
from typing import Any

__all__ = ["TRACK_TYPES", "to_event", "to_profile"]

TRACK_TYPES = {
    "Order Completed": "order_completed",
    "Product Viewed": "product_viewed",
    "Product Added": "added_to_cart",
    "Checkout Started": "checkout_started",
    "Email Opened": "email_opened",
    "Email Link Clicked": "email_clicked",
}


def _ids(msg: dict[str, Any]) -> dict[str, str]:
    ids = {}
    if msg.get("userId"):
        ids["segment_user_id"] = str(msg["userId"])
    if msg.get("anonymousId"):
        ids["segment_anonymous_id"] = str(msg["anonymousId"])
    return ids


def _snake(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", name.strip().lower()).strip("_")[:64] or "event"


def _context_email(msg: dict[str, Any]) -> Any:
    context = msg.get("context")
    traits = context.get("traits") if isinstance(context, dict) else None
    return traits.get("email") if isinstance(traits, dict) else None


def to_profile(msg: dict[str, Any]) -> dict[str, Any] | None:
    kind = msg.get("type")
    if kind == "alias":
        ids = {
            "segment_user_id": str(msg.get("userId") or ""),
            "segment_anonymous_id": str(msg.get("previousId") or ""),
        }
        return {
            "source_id": f"alias:{msg.get('messageId')}",
            "ids": ids,
            "updated_at": msg.get("timestamp"),
        }
    if kind != "identify":
        return None
    traits = msg.get("traits") or {}
    if not isinstance(traits, dict):
        return {"_invalid": "identify traits is not an object", "source_id": msg.get("messageId")}
    raw_address = traits.get("address")
    address: dict[str, Any] = raw_address if isinstance(raw_address, dict) else {}
    ids = _ids(msg)
    return {
        "source_id": ids.get("segment_user_id") or f"anon:{ids.get('segment_anonymous_id', '')}",
        "email": traits.get("email"),
        "phone": traits.get("phone"),
        "ids": ids,
        "first_name": traits.get("firstName") or traits.get("first_name"),
        "last_name": traits.get("lastName") or traits.get("last_name"),
        "city": address.get("city"),
        "postal_code": address.get("postalCode") or address.get("postal_code"),
        "country": address.get("country"),
        "created_at": traits.get("createdAt") or traits.get("created_at"),
        "updated_at": msg.get("timestamp"),
    }


def to_event(msg: dict[str, Any]) -> dict[str, Any] | None:
    kind = msg.get("type")
    if kind not in ("track", "page"):
        return None
    props = msg.get("properties") or {}
    if not isinstance(props, dict):
        return {"_invalid": "properties is not an object", "source_event_id": msg.get("messageId")}
    event = {
        "source_event_id": msg.get("messageId"),
        "occurred_at": msg.get("timestamp"),
        "ids": _ids(msg),
        "email": _context_email(msg),
    }
    if kind == "page":
        return {
            **event,
            "type": "page_viewed",
            "properties": {"url": props.get("url"), "name": msg.get("name")},
        }
    name = str(msg.get("event") or "")
    event["type"] = TRACK_TYPES.get(name, _snake(name))
    out_props: dict[str, Any] = {}
    if event["type"] == "order_completed":
        event["revenue"] = props.get("revenue", props.get("total"))
        event["currency"] = props.get("currency")
        out_props["order_id"] = props.get("order_id")
    products = props.get("products")
    if isinstance(products, list):
        out_props["products"] = [
            {
                "id": p.get("product_id") or p.get("sku"),
                "name": p.get("name"),
                "category": p.get("category"),
                "price": p.get("price"),
                "quantity": p.get("quantity"),
            }
            for p in products
            if isinstance(p, dict)
        ]
    elif event["type"] in ("product_viewed", "added_to_cart"):
        out_props["products"] = [
            {
                "id": props.get("product_id") or props.get("sku"),
                "name": props.get("name"),
                "category": props.get("category"),
                "price": props.get("price"),
                "quantity": props.get("quantity"),
            }
        ]
    event["properties"] = out_props
    return event
