"""Klaviyo resources → the canonical input layout (connector.schema.records).

Metric names are Klaviyo's (and Shopify's integration) own; each maps to one canonical event
type. ``Ordered Product`` is one line per product of an order: it keeps its value in the
properties, not as revenue, so an order's revenue is never counted twice.

Refunds and cancellations (Shopify's ``Refunded Order`` and ``Cancelled Order``, and any
integration that follows Klaviyo's convention) carry the ``$event_id`` of the ``Placed Order``
they undo: "the $event_id must match the $event_id used for the Placed Order" for Klaviyo to
net them in customer lifetime value (community.klaviyo.com, "Fulfilled Order, Cancelled Order,
and Refunded Order", 2021). They map to ``order_refunded`` / ``order_cancelled`` with that id
in ``properties.order_id``; ``revenue`` is the amount refunded as a positive number, or None
when the whole order is undone (a cancellation, or a refund that states no amount).
"""

from __future__ import annotations

from typing import Any

from connector.sdk import parse_timestamp

__all__ = [
    "EVENT_TYPES_BY_METRIC",
    "map_event",
    "map_profile",
    "safe_map_event",
    "safe_map_profile",
]

EVENT_TYPES_BY_METRIC = {
    "Placed Order": "order_completed",
    "Refunded Order": "order_refunded",
    "Cancelled Order": "order_cancelled",
    "Ordered Product": "product_ordered",
    "Viewed Product": "product_viewed",
    "Started Checkout": "checkout_started",
    "Opened Email": "email_opened",
    "Clicked Email": "email_clicked",
}
# Klaviyo consent strings (spec EmailMarketing.consent / SMSMarketing.consent).
_CONSENT = {"SUBSCRIBED": "granted", "UNSUBSCRIBED": "denied", "NEVER_SUBSCRIBED": "unknown"}
# Global e-mail suppressions that are the person's (or the account's) "no" (spec
# EmailMarketingSuppression.reason); a bounce or an invalid address says nothing of consent
_REFUSALS = frozenset({"UNSUBSCRIBE", "SPAM_COMPLAINT", "USER_SUPPRESSED"})


def _consent(subscriptions: dict[str, Any] | None) -> tuple[dict[str, str], dict[str, str]]:
    """Per channel the status and when Klaviyo recorded it (``consent_timestamp``).

    The statement is dated by Klaviyo's consent time, not the profile's ``updated``: an edit
    to a name must not make an old "subscribed" newer than a later opt-out elsewhere. A global
    suppression for a refusal (an unsubscribe, a spam complaint) is a denial dated by the
    suppression, whatever ``consent`` still says."""
    status: dict[str, str] = {}
    dated: dict[str, str] = {}
    for channel in ("email", "sms"):
        marketing = ((subscriptions or {}).get(channel) or {}).get("marketing") or {}
        said = _CONSENT.get(str(marketing.get("consent") or "").upper())
        if said is None:
            continue
        status[channel] = said
        if said != "unknown" and marketing.get("consent_timestamp"):
            dated[channel] = str(marketing["consent_timestamp"])
        refusals = [
            str(s.get("timestamp") or "")
            for s in marketing.get("suppression") or []
            if isinstance(s, dict) and str(s.get("reason") or "").upper() in _REFUSALS
        ]
        if refusals:
            # dated by the newest "no": an unsubscribe after an older manual suppression is
            # dated by the unsubscribe, so a grant elsewhere in between does not beat it
            said_no = [
                *refusals,
                *([dated[channel]] if said == "denied" and channel in dated else []),
            ]
            if all(said_no):
                dated[channel] = max(said_no, key=lambda t: parse_timestamp(t, field="timestamp"))
            else:
                dated.pop(channel, None)
            status[channel] = "denied"
    return status, dated


def map_profile(resource: dict[str, Any]) -> dict[str, Any]:
    attrs = resource.get("attributes") or {}
    location = attrs.get("location") or {}
    consent, consent_at = _consent(attrs.get("subscriptions"))
    ids = {"klaviyo_id": resource["id"]}
    if attrs.get("external_id"):
        ids["external_id"] = str(attrs["external_id"])
    traits = {
        k: v
        for k, v in {
            "organization": attrs.get("organization"),
            "title": attrs.get("title"),
            "locale": attrs.get("locale"),
            "region": location.get("region"),
            "timezone": location.get("timezone"),
            "last_event_date": attrs.get("last_event_date"),
            "properties": attrs.get("properties") or None,
        }.items()
        if v is not None
    }
    return {
        "source_id": resource["id"],
        "email": attrs.get("email"),
        "phone": attrs.get("phone_number"),
        "ids": ids,
        "first_name": attrs.get("first_name"),
        "last_name": attrs.get("last_name"),
        "city": location.get("city"),
        "postal_code": location.get("zip"),
        "country": location.get("country"),
        "created_at": attrs.get("created"),
        "updated_at": attrs.get("updated"),
        "consent": consent,
        "consent_at": consent_at,
        "traits": traits,
    }


def _products(props: dict[str, Any]) -> list[dict[str, Any]]:
    items = props.get("Items")
    if not isinstance(items, list):
        items = [props] if props.get("ProductID") or props.get("ProductName") else []
    products = []
    for item in items:
        if not isinstance(item, dict):
            continue
        categories = item.get("Categories") or []
        products.append(
            {
                "id": item.get("ProductID"),
                "name": item.get("ProductName"),
                "category": categories[0] if categories else None,
                "price": item.get("ItemPrice", item.get("Price")),
                "quantity": item.get("Quantity", 1),
            }
        )
    return products


_REVERSALS = ("order_refunded", "order_cancelled")


def _reversed_amount(etype: str, props: dict[str, Any]) -> float | None:
    """What a refund takes back, as a positive number; None means the whole order."""
    if etype == "order_cancelled":
        return None
    value = props.get("$value")
    if value is None or isinstance(value, bool):
        return None
    return abs(float(value))


def map_event(
    resource: dict[str, Any], metric_name: str, profile: dict[str, Any] | None
) -> dict[str, Any]:
    """One event; ``profile`` is the included profile resource, when the page carried it."""
    attrs = resource.get("attributes") or {}
    props = dict(attrs.get("event_properties") or {})
    etype = EVENT_TYPES_BY_METRIC[metric_name]
    rel = ((resource.get("relationships") or {}).get("profile") or {}).get("data") or {}
    pattrs = (profile or {}).get("attributes") or {}
    ids = {"klaviyo_id": rel["id"]} if rel.get("id") else {}
    if pattrs.get("external_id"):
        ids["external_id"] = str(pattrs["external_id"])
    properties: dict[str, Any] = {"metric": metric_name}
    revenue = props.get("$value") if etype == "order_completed" else None
    if etype in _REVERSALS:
        revenue = _reversed_amount(etype, props)
        properties["products"] = _products(props)
        if props.get("$event_id"):
            properties["order_id"] = props["$event_id"]  # as the Placed Order carries it
        for key in ("Reason", "CancelReason"):
            if props.get(key) is not None:
                properties["reason"] = props[key]
    elif etype in ("order_completed", "checkout_started", "product_viewed", "product_ordered"):
        properties["products"] = _products(props)
        if props.get("Categories"):
            properties["categories"] = props["Categories"]
        if props.get("$event_id"):
            properties["order_id" if etype == "order_completed" else "event_ref"] = props[
                "$event_id"
            ]
        if etype != "order_completed" and props.get("$value") is not None:
            properties["value"] = props["$value"]
    else:
        for key in ("Campaign Name", "Subject", "URL", "$message", "$flow"):
            if props.get(key) is not None:
                properties[key.strip("$").lower().replace(" ", "_")] = props[key]
    return {
        "source_event_id": resource["id"],
        "type": etype,
        "occurred_at": attrs.get("datetime") or attrs.get("timestamp"),
        "email": pattrs.get("email"),
        "phone": pattrs.get("phone_number"),
        "ids": ids,
        "revenue": revenue,
        "currency": props.get("Currency") or props.get("$currency_code"),
        "properties": properties,
    }


# A resource of an unexpected shape (a field that is a list, a missing id) must quarantine that
# one record, not end the pull: the pull stage turns ``_invalid`` records into per-record errors.
_MALFORMED = (AttributeError, KeyError, TypeError, ValueError, IndexError)


def _resource_id(resource: Any) -> str:
    rid = resource.get("id") if isinstance(resource, dict) else None
    return str(rid)[:200] if rid not in (None, "") else "unknown"


def safe_map_profile(resource: Any) -> dict[str, Any]:
    try:
        return map_profile(resource)
    except _MALFORMED as exc:
        return {
            "_invalid": f"malformed Klaviyo profile ({type(exc).__name__})",
            "source_id": _resource_id(resource),
        }


def safe_map_event(resource: Any, metric_name: str, profile: Any) -> dict[str, Any]:
    try:
        return map_event(resource, metric_name, profile if isinstance(profile, dict) else None)
    except _MALFORMED as exc:
        return {
            "_invalid": f"malformed Klaviyo event ({type(exc).__name__})",
            "source_event_id": _resource_id(resource),
        }
