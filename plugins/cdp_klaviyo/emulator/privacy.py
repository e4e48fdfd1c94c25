"""Klaviyo's Request Profile Deletion (``POST /api/data-privacy-deletion-jobs``), emulated.

Per the reference (developers.klaviyo.com/en/reference/request_profile_deletion, revision
2026-10-15): the body is a ``data-privacy-deletion-job`` whose ``profile`` names exactly one of
``email``, ``phone_number`` or ``id`` (several are an error); every matching profile is
deleted, asynchronously in Klaviyo (here at once); the answer is 202 with no body. The
emulator's state records each job (id, which kind of identifier, profiles deleted), not the
identifier itself.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from cdp_klaviyo.emulator.store import make_id
from connector.sdk import Request, Response

if TYPE_CHECKING:
    from cdp_klaviyo.emulator.server import KlaviyoEmulator

__all__ = ["request_profile_deletion"]

_KINDS = ("email", "phone_number", "id")


def request_profile_deletion(emu: KlaviyoEmulator, request: Request) -> Response:
    data = (request.json() or {}).get("data") or {}
    attrs: dict[str, Any] = (
        ((data.get("attributes") or {}).get("profile") or {}).get("data") or {}
    ).get("attributes") or {}
    given = {k: v for k, v in attrs.items() if k in _KINDS and v}
    if data.get("type") != "data-privacy-deletion-job" or len(given) != 1:
        return emu.error_response(
            400,
            "Exactly one of email, phone_number or id must be provided.",
            pointer="/data/attributes/profile/data/attributes",
        )
    ((kind, value),) = given.items()
    store = emu.store
    if kind == "id":
        matched = [value] if value in store.profiles else []
    else:
        matched = [pid for pid, p in store.profiles.items() if p.get(kind) == value]
    for pid in matched:
        profile = store.profiles.pop(pid)
        for field, index in store.by_ident.items():
            if profile.get(field) is not None:
                index.pop(profile[field], None)
        for lst in store.lists.values():
            lst["members"].discard(pid)
    store.deletion_jobs.append(
        {"id": make_id(time.time(), store.next_n()), "by": kind, "deleted": len(matched)}
    )
    return Response(202)
