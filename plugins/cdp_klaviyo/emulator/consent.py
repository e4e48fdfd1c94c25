"""Consent changes made in a Klaviyo account while a connector reads it: unsubscribes and
manual suppressions, through the routes the official SDK calls
(``Profiles.bulk_unsubscribe_profiles``, ``Profiles.bulk_suppress_profiles``).

- ``profile-subscription-bulk-delete-jobs`` (spec bulk_unsubscribe_profiles, 202, at most 100
  profiles): each profile, found by email or phone number or else created ("If a profile cannot
  be found matching the given identifier(s), a new profile will be created"), becomes
  UNSUBSCRIBED on every channel named in its ``subscriptions``; "All profiles will be removed
  from the provided list". An e-mail unsubscribe also suppresses the address globally with
  reason UNSUBSCRIBE (spec EmailMarketingSuppression.reason; "Suppressed profiles cannot
  receive email marketing, independent of their consent status").
- ``profile-suppression-bulk-create-jobs`` (spec bulk_suppress_profiles, 202): a manual
  suppression, reason USER_SUPPRESSED; the consent status is left as it was.

Neither touches the profile's ``updated``: Klaviyo's reference does not say a subscription
change moves it, and it offers a separate filter and sort on
``subscriptions.email.marketing.suppression.timestamp`` (spec get_profiles). The emulator takes
the reading that a client must not rely on ``updated`` for consent, so a source that does is
caught here.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from cdp_klaviyo.emulator.reads import JSONAPI
from cdp_klaviyo.emulator.store import SUPPRESSED_AT, make_id
from cdp_klaviyo.emulator.writes import profile_for
from connector.sdk import ErrorAnswer, Request, Response

if TYPE_CHECKING:
    from cdp_klaviyo.emulator.server import KlaviyoEmulator
    from cdp_klaviyo.emulator.store import KlaviyoStore

__all__ = ["consent_routes", "suppress"]

MAX_PROFILES = 100
Handler = Callable[[Request], Response]


def _profiles(request: Request, kind: str) -> list[dict[str, Any]]:
    data = (request.json() or {}).get("data")
    if not isinstance(data, dict) or data.get("type") != kind:
        raise ErrorAnswer(400, f"data must be a {kind} resource object.", pointer="/data")
    refs = ((data.get("attributes") or {}).get("profiles") or {}).get("data")
    if not isinstance(refs, list) or not refs:
        raise ErrorAnswer(400, "profiles must list at least one profile.", pointer="/data")
    if len(refs) > MAX_PROFILES:
        detail = f"At most {MAX_PROFILES} profiles may be sent per call."
        raise ErrorAnswer(400, detail, pointer="/data/attributes/profiles/data")
    return [r.get("attributes") or {} for r in refs if isinstance(r, dict)]


def _find_or_create(store: KlaviyoStore, attrs: dict[str, Any], now: float) -> dict[str, Any]:
    """The profile with this e-mail or phone number, else a new one (``writes.profile_for``)."""
    idents = {k: attrs[k] for k in ("email", "phone_number") if attrs.get(k)}
    if not idents:
        detail = "Either email or phone number is required."
        raise ErrorAnswer(400, detail, pointer="/data/attributes/profiles/data")
    return store.profiles[profile_for(store, {"attributes": idents}, now)]


def suppress(store: KlaviyoStore, profile: dict[str, Any], reason: str, now: float) -> None:
    """A global e-mail suppression at ``now``."""
    subs = profile.setdefault("subscriptions", {})
    subs.setdefault("suppression", []).append({"reason": reason, "timestamp": now})
    profile[SUPPRESSED_AT] = now
    store.put_profile(profile)  # re-index: the suppression time is a sort key


def _unsubscribe(emu: KlaviyoEmulator, request: Request) -> Response:
    people = _profiles(request, "profile-subscription-bulk-delete-job")
    data = (request.json() or {}).get("data") or {}
    list_ref = (((data.get("relationships") or {}).get("list") or {}).get("data")) or {}
    now = time.time()
    with emu.lock:
        store = emu.store
        for attrs in people:
            profile = _find_or_create(store, attrs, now)
            channels = attrs.get("subscriptions") or {"email": {}}
            subs = profile.setdefault("subscriptions", {})
            if "sms" in channels and profile.get("phone_number"):
                subs["sms"] = "UNSUBSCRIBED"
            if "email" in channels:
                subs["email"] = "UNSUBSCRIBED"
                subs["at"] = now
                suppress(store, profile, "UNSUBSCRIBE", now)
            lst = store.lists.get(str(list_ref.get("id"))) if list_ref else None
            if lst is not None:
                lst["members"].discard(profile["id"])
    return Response(202, content_type=JSONAPI)


def _suppress(emu: KlaviyoEmulator, request: Request) -> Response:
    people = _profiles(request, "profile-suppression-bulk-create-job")
    now = time.time()
    with emu.lock:
        for attrs in people:
            if not attrs.get("email"):
                raise ErrorAnswer(400, "email is required.", pointer="/data/attributes/profiles")
            suppress(emu.store, _find_or_create(emu.store, attrs, now), "USER_SUPPRESSED", now)
    job = {
        "type": "profile-suppression-bulk-create-job",
        "id": make_id(now, emu.store.next_n()),
        "attributes": {"status": "queued", "created_at": None, "skipped": 0},
    }
    return Response(202, {"data": job}, content_type=JSONAPI)


def consent_routes(emu: KlaviyoEmulator) -> list[tuple[str, str, Handler]]:
    return [
        ("POST", "/api/profile-subscription-bulk-delete-jobs", lambda r: _unsubscribe(emu, r)),
        ("POST", "/api/profile-suppression-bulk-create-jobs", lambda r: _suppress(emu, r)),
    ]
