"""Resource documents of the Klaviyo emulator, shaped as the 2026-07-15 OpenAPI spec requires."""

from __future__ import annotations

from typing import Any

from cdp_klaviyo.emulator.jsonapi import PUBLIC_HOST, iso

__all__ = ["event_resource", "job_resource", "list_resource", "metric_resource", "profile_resource"]

_EMAIL_CAN = {"SUBSCRIBED": True, "NEVER_SUBSCRIBED": True, "UNSUBSCRIBED": False}


def _rel(path: str, name: str) -> dict[str, str]:
    return {
        "self": f"{PUBLIC_HOST}{path}/relationships/{name}/",
        "related": f"{PUBLIC_HOST}{path}/{name}/",
    }


def _subscriptions(p: dict[str, Any]) -> dict[str, Any]:
    subs = p.get("subscriptions") or {}
    email = subs.get("email", "NEVER_SUBSCRIBED")
    sms = subs.get("sms")
    at = iso(subs.get("at"))
    suppression = [
        {"reason": s["reason"], "timestamp": iso(s["timestamp"])}
        for s in subs.get("suppression") or []
    ]
    out: dict[str, Any] = {
        "email": {
            "marketing": {
                "can_receive_email_marketing": _EMAIL_CAN.get(email, False) and not suppression,
                "consent": email,
                "consent_timestamp": at if email != "NEVER_SUBSCRIBED" else None,
                "last_updated": at,
                "method": "API" if email != "NEVER_SUBSCRIBED" else None,
                "method_detail": "",
                "custom_method_detail": None,
                "double_optin": None,
                "suppression": suppression,
                "list_suppressions": [],
            }
        },
    }
    # The spec's ``nullable`` sits beside a $ref here, which validators ignore: omit, not null.
    if sms is not None:
        out["sms"] = {
            "marketing": {
                "can_receive_sms_marketing": sms == "SUBSCRIBED",
                "consent": sms,
                "consent_timestamp": at,
                "method": "TEXT",
                "method_detail": "",
                "last_updated": at,
            }
        }
    return out


def profile_resource(p: dict[str, Any], *, subscriptions: bool = False) -> dict[str, Any]:
    attrs: dict[str, Any] = {
        "email": p.get("email"),
        "phone_number": p.get("phone_number"),
        "external_id": p.get("external_id"),
        "first_name": p.get("first_name"),
        "last_name": p.get("last_name"),
        "organization": p.get("organization"),
        "locale": p.get("locale"),
        "title": p.get("title"),
        "image": None,
        "created": iso(p.get("created")),
        "updated": iso(p.get("updated")),
        "last_event_date": iso(p.get("last_event_date")),
        "location": {
            k: v
            for k, v in (p.get("location") or {}).items()
            if v is not None or k not in ("latitude", "longitude")  # oneOf: null is not allowed
        },
        "properties": dict(p.get("properties") or {}),
    }
    if subscriptions:
        attrs["subscriptions"] = _subscriptions(p)
    return {
        "type": "profile",
        "id": p["id"],
        "attributes": attrs,
        "links": {"self": f"{PUBLIC_HOST}/api/profiles/{p['id']}/"},
    }


def event_resource(e: dict[str, Any]) -> dict[str, Any]:
    path = f"/api/events/{e['id']}"
    return {
        "type": "event",
        "id": e["id"],
        "attributes": {
            "timestamp": int(e["timestamp"]),
            "event_properties": e["properties"],
            "datetime": iso(e["timestamp"]),
            "uuid": e["uuid"],
        },
        "relationships": {
            "profile": {
                "data": {"type": "profile", "id": e["profile_id"]},
                "links": _rel(path, "profile"),
            },
            "metric": {
                "data": {"type": "metric", "id": e["metric_id"]},
                "links": _rel(path, "metric"),
            },
        },
        "links": {"self": f"{PUBLIC_HOST}{path}/"},
    }


def metric_resource(m: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "metric",
        "id": m["id"],
        "attributes": {
            "name": m["name"],
            "created": iso(m["created"]),
            "updated": iso(m["created"]),
            "integration": m["integration"],
        },
        "links": {"self": f"{PUBLIC_HOST}/api/metrics/{m['id']}/"},
    }


def list_resource(lst: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "list",
        "id": lst["id"],
        "attributes": {
            "name": lst["name"],
            "created": iso(lst["created"]),
            "updated": iso(lst["updated"]),
            "opt_in_process": lst["opt_in_process"],
        },
        "links": {"self": f"{PUBLIC_HOST}/api/lists/{lst['id']}/"},
    }


def job_resource(job: dict[str, Any]) -> dict[str, Any]:
    path = f"/api/profile-bulk-import-jobs/{job['id']}"
    return {
        "type": "profile-bulk-import-job",
        "id": job["id"],
        "attributes": {
            "status": job["status"],
            "created_at": iso(job["created_at"]),
            "total_count": job["total_count"],
            "completed_count": job["completed_count"],
            "failed_count": job["failed_count"],
            "completed_at": iso(job["completed_at"]),
            "expires_at": iso(job["created_at"] + 7 * 86400),
            "started_at": iso(job["started_at"]),
        },
        "relationships": {
            "lists": {
                "data": [{"type": "list", "id": i} for i in job["list_ids"]],
                "links": _rel(path, "lists"),
            },
            "profiles": {"links": _rel(path, "profiles")},
            "import-errors": {"links": {"related": f"{PUBLIC_HOST}{path}/import-errors/"}},
        },
        "links": {"self": f"{PUBLIC_HOST}{path}/"},
    }
