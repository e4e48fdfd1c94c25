"""Bulk profile import jobs: validation on POST, step-on-poll processing, per-profile errors.

Semantics follow the bulk import guide (facts 3.2): profiles are upserted by id, email, phone
number or external id; ``null`` never clears a field; ``meta.patch_properties.unset`` removes
custom properties; lists in ``data.relationships.lists`` receive every imported profile. A job
moves queued → processing → complete, one step per status poll.
"""

from __future__ import annotations

import re
import time
from typing import Any

from cdp_klaviyo.emulator.store import KlaviyoStore, make_id
from cdp_klaviyo.limits import IMPORT_MAX_BYTES, IMPORT_MAX_PROFILES

__all__ = ["ImportRefusedError", "advance_job", "create_job"]

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_PHONE = re.compile(r"^\+[1-9]\d{6,14}$")
_SETTABLE = (
    "email",
    "phone_number",
    "external_id",
    "first_name",
    "last_name",
    "organization",
    "locale",
    "title",
)


class ImportRefusedError(ValueError):
    """The whole job is refused (400) with this detail and JSON pointer."""

    def __init__(self, detail: str, pointer: str = "/data/") -> None:
        super().__init__(detail)
        self.detail = detail
        self.pointer = pointer


def create_job(store: KlaviyoStore, body: object, size: int) -> dict[str, Any]:
    if size > IMPORT_MAX_BYTES:
        raise ImportRefusedError(f"Payload exceeds the maximum of {IMPORT_MAX_BYTES} bytes.")
    data = body.get("data") if isinstance(body, dict) else None
    if not isinstance(data, dict) or data.get("type") != "profile-bulk-import-job":
        raise ImportRefusedError("data.type must be 'profile-bulk-import-job'.", "/data/type")
    profiles = ((data.get("attributes") or {}).get("profiles") or {}).get("data")
    if not isinstance(profiles, list) or not profiles:
        raise ImportRefusedError("No profiles provided.", "/data/attributes/profiles/data")
    if len(profiles) > IMPORT_MAX_PROFILES:
        raise ImportRefusedError(
            f"A job accepts at most {IMPORT_MAX_PROFILES} profiles.",
            "/data/attributes/profiles/data",
        )
    lists = (((data.get("relationships") or {}).get("lists") or {}).get("data")) or []
    list_ids = [str(item.get("id")) for item in lists if isinstance(item, dict)]
    for i, list_id in enumerate(list_ids):
        if list_id not in store.lists:
            raise ImportRefusedError(
                f"List {list_id} does not exist.", f"/data/relationships/lists/data/{i}/id"
            )
    now = time.time()
    job: dict[str, Any] = {
        "id": make_id(now, store.next_n(), 20),
        "status": "queued",
        "created_at": now,
        "started_at": None,
        "completed_at": None,
        "total_count": len(profiles),
        "completed_count": 0,
        "failed_count": 0,
        "list_ids": list_ids,
        "pending": profiles,
        "errors": [],
        "profile_ids": [],
    }
    store.jobs[job["id"]] = job
    return job


def advance_job(store: KlaviyoStore, job: dict[str, Any]) -> None:
    """One processing step, taken when the job's status is read."""
    now = time.time()
    if job["status"] == "queued":
        job["status"] = "processing"
        job["started_at"] = now
    elif job["status"] == "processing":
        for index, item in enumerate(job.pop("pending", [])):
            error = _apply(store, item, job, now)
            if error is None:
                job["completed_count"] += 1
            else:
                job["failed_count"] += 1
                code, detail = error
                job["errors"].append(
                    {
                        "code": code,
                        "title": "Invalid input.",
                        "detail": detail,
                        "source": {"pointer": f"/data/attributes/profiles/data/{index}"},
                        "original_payload": item if isinstance(item, dict) else {},
                    }
                )
        job["status"] = "complete"
        job["completed_at"] = now


def _validate(store: KlaviyoStore, item: object) -> tuple[str, str] | None:
    if not isinstance(item, dict) or item.get("type") != "profile":
        return "invalid", "Each profile must be an object of type 'profile'."
    attrs = item.get("attributes") or {}
    if not (item.get("id") or any(attrs.get(f) for f in ("email", "phone_number", "external_id"))):
        return "invalid", "A profile needs one of id, email, phone_number or external_id."
    email = attrs.get("email")
    if email is not None and (not isinstance(email, str) or not _EMAIL.match(email)):
        return "invalid", "Invalid email address."
    if email is not None and email.lower() in store.refused_emails:
        return "invalid", "Email address is on the account's suppression and cannot be imported."
    phone = attrs.get("phone_number")
    if phone is not None and (not isinstance(phone, str) or not _PHONE.match(phone)):
        return "invalid", "Invalid phone number format (expected E.164)."
    if item.get("id") and item["id"] not in store.profiles:
        return "not_found", f"Profile {item['id']} does not exist."
    if item.get("id") and any(
        store.find_profile({f: attrs.get(f)}) not in (None, item["id"])
        for f in ("email", "phone_number", "external_id")
    ):
        # moving a profile to an address another profile holds: Klaviyo keeps one profile per
        # identifier and refuses the write (duplicate_profile, klaviyo-api-node#75; identifiers
        # naming two profiles, klaviyo-api-php#63)
        return "duplicate_profile", "A profile already exists with one of these identifiers."
    props = attrs.get("properties")
    if props is not None and not isinstance(props, dict):
        return "invalid", "properties must be an object."
    return None


def _apply(
    store: KlaviyoStore, item: object, job: dict[str, Any], now: float
) -> tuple[str, str] | None:
    error = _validate(store, item)
    if error is not None or not isinstance(item, dict):
        return error
    attrs = item.get("attributes") or {}
    pid = store.find_profile({"id": item.get("id"), **attrs})
    if pid is None:
        profile: dict[str, Any] = {
            "id": make_id(now, store.next_n()),
            "created": now,
            "properties": {},
            "location": {},
            "subscriptions": {"email": "NEVER_SUBSCRIBED"},
        }
    else:
        old = store.profiles[pid]
        profile = {**old, "properties": dict(old.get("properties") or {})}
    # Bulk import never clears a field with null (facts 3.2): only non-null values land.
    for key in _SETTABLE:
        if attrs.get(key) is not None:
            profile[key] = attrs[key]
    location = attrs.get("location") or {}
    if isinstance(location, dict):
        profile["location"] = {
            **(profile.get("location") or {}),
            **{k: v for k, v in location.items() if v is not None},
        }
    for key, value in (attrs.get("properties") or {}).items():
        if value is not None:
            profile["properties"][key] = value
    unset = ((item.get("meta") or {}).get("patch_properties") or {}).get("unset") or []
    for key in [unset] if isinstance(unset, str) else unset:
        profile["properties"].pop(key, None)
    profile["updated"] = float(int(now))
    store.put_profile(profile)
    for list_id in job["list_ids"]:
        store.lists[list_id]["members"].add(profile["id"])
    job["profile_ids"].append(profile["id"])
    return None
