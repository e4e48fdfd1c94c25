"""Writes that change a Klaviyo account under a reading connector: events (late and backfilled
ones included), profile edits and profile merges, through the routes the official SDK calls
(``Events.create_event``, ``Profiles.update_profile``, ``Profiles.merge_profiles``).

- ``create_event`` (spec create_event, 202): ``time`` sets the event's datetime ("by default,
  the time the request was received"), so an event can land long after its own datetime, as
  a backfill (``backfill: true``) or a delayed integration does; ``unique_id`` de-duplicates
  per profile and metric ("only the first processed event will be recorded") and is what the
  event's properties carry as ``$event_id``; ``value`` is its ``$value``. The metric is found
  or created by name under the API integration; the profile by id or identifier, else created.
- ``update_profile`` (spec update_profile, 200): "setting a field to null will clear out the
  field, whereas not including a field in your request will leave it unchanged".
- ``merge_profiles`` (spec merge_profiles, 201): the source profile is merged into the
  destination "deleting the source profile in the process"; its events and list memberships
  move to the destination, which keeps its own values and identifiers.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from cdp_klaviyo.emulator.jsonapi import PUBLIC_HOST, FilterError, error_body, parse_time
from cdp_klaviyo.emulator.reads import JSONAPI, ok
from cdp_klaviyo.emulator.resources import profile_resource
from cdp_klaviyo.emulator.store import make_id
from connector.sdk import ErrorAnswer, Request, Response

if TYPE_CHECKING:
    from cdp_klaviyo.emulator.server import KlaviyoEmulator
    from cdp_klaviyo.emulator.store import KlaviyoStore

__all__ = ["delete_profiles", "profile_for", "write_routes"]

API_INTEGRATION = {"object": "integration", "id": "0rG4eQ", "name": "API", "category": "API"}
_IDENTS = ("email", "phone_number", "external_id")
_EDITABLE = (*_IDENTS, "first_name", "last_name", "organization", "locale", "title")
Handler = Callable[[Request], Response]


def _data(request: Request, kind: str) -> dict[str, Any]:
    data = (request.json() or {}).get("data")
    if not isinstance(data, dict) or data.get("type") != kind:
        raise ErrorAnswer(400, f"data must be a {kind} resource object.", pointer="/data")
    return data


def _metric_id(store: KlaviyoStore, name: str, now: float) -> str:
    for mid, metric in store.metrics.items():
        if metric["name"] == name and metric["integration"]["name"] == "API":
            return mid
    mid = make_id(now, store.next_n(), 6)
    store.metrics[mid] = {"id": mid, "name": name, "created": now, "integration": API_INTEGRATION}
    return mid


def profile_for(store: KlaviyoStore, ref: dict[str, Any], now: float) -> str:
    attrs = ref.get("attributes") or {}
    pid = store.find_profile({"id": ref.get("id"), **attrs})
    if pid is not None:
        return pid
    if not any(attrs.get(f) for f in _IDENTS):
        detail = "A profile needs one of id, email, phone_number or external_id."
        raise ErrorAnswer(400, detail, pointer="/data/attributes/profile/data/attributes")
    profile: dict[str, Any] = {
        "id": make_id(now, store.next_n()),
        "created": float(int(now)),
        "updated": float(int(now)),
        "properties": {},
        "location": {},
        "subscriptions": {"email": "NEVER_SUBSCRIBED"},
        **{k: attrs[k] for k in _EDITABLE if attrs.get(k) is not None},
    }
    store.put_profile(profile)
    return str(profile["id"])


def _create_event(emu: KlaviyoEmulator, request: Request) -> Response:
    attrs = _data(request, "event").get("attributes") or {}
    props = attrs.get("properties")
    name = (((attrs.get("metric") or {}).get("data") or {}).get("attributes") or {}).get("name")
    if not isinstance(props, dict) or not isinstance(name, str) or not name:
        detail = "An event needs properties and a metric name."
        raise ErrorAnswer(400, detail, pointer="/data/attributes")
    now = time.time()
    try:
        at = parse_time(attrs["time"]) if attrs.get("time") else now
    except FilterError:
        raise ErrorAnswer(400, "Invalid time.", pointer="/data/attributes/time") from None
    store = emu.store
    profile_ref = (attrs.get("profile") or {}).get("data") or {}
    pid = profile_for(store, profile_ref, now)
    mid = _metric_id(store, name, now)
    unique = str(attrs.get("unique_id") or int(at))
    key = (pid, mid, unique)
    if key in store.event_keys:
        return Response(202, content_type=JSONAPI)
    properties = dict(props)
    if attrs.get("value") is not None:
        properties["$value"] = attrs["value"]
    if attrs.get("unique_id"):  # an explicit $event_id (a refund naming its order) stays
        properties.setdefault("$event_id", str(attrs["unique_id"]))
    event = {
        "id": make_id(float(int(at)), store.next_n(), 22),
        "metric_id": mid,
        "profile_id": pid,
        "timestamp": float(int(at)),
        "uuid": str(uuid.uuid4()),
        "properties": properties,
        "received": now,
    }
    store.add_events([event])
    store.event_keys.add(key)
    return Response(202, content_type=JSONAPI)


def _update_profile(emu: KlaviyoEmulator, request: Request) -> Response:
    data = _data(request, "profile")
    pid = request.params["id"]
    old = emu.store.profiles.get(pid)
    if old is None or data.get("id") not in (None, pid):
        raise ErrorAnswer(404, f"Profile {pid[:40]} not found.")
    attrs = data.get("attributes") or {}
    profile = {**old, "properties": dict(old.get("properties") or {})}
    for key in _EDITABLE:
        if key in attrs:
            profile[key] = attrs[key]
    for key in _IDENTS:
        other = emu.store.find_profile({key: profile.get(key)}) if profile.get(key) else None
        if other is not None and other != pid:
            body = error_body(
                409,
                "duplicate_profile",
                "Conflict.",
                "A profile already exists with one of these identifiers.",
                pointer="/data/attributes",
                meta={"duplicate_profile_id": other},
            )
            return Response(409, body, content_type=JSONAPI)
    if isinstance(attrs.get("location"), dict):
        profile["location"] = {**(profile.get("location") or {}), **attrs["location"]}
    for key, value in (attrs.get("properties") or {}).items():
        profile["properties"][key] = value
    unset = ((data.get("meta") or {}).get("patch_properties") or {}).get("unset") or []
    for key in [unset] if isinstance(unset, str) else unset:
        profile["properties"].pop(key, None)
    profile["updated"] = float(int(time.time()))
    emu.store.put_profile(profile)
    extra = (request.arg("additional-fields[profile]") or "").split(",")
    resource = profile_resource(profile, subscriptions="subscriptions" in extra)
    return ok({"data": resource, "links": resource["links"]})


def _merge_profiles(emu: KlaviyoEmulator, request: Request) -> Response:
    data = _data(request, "profile-merge")
    store = emu.store
    dest = store.profiles.get(str(data.get("id")))
    refs = ((data.get("relationships") or {}).get("profiles") or {}).get("data")
    if dest is None:
        raise ErrorAnswer(404, "Destination profile not found.", pointer="/data/id")
    if not isinstance(refs, list) or len(refs) != 1 or not isinstance(refs[0], dict):
        detail = "This endpoint accepts exactly one source profile."
        raise ErrorAnswer(400, detail, pointer="/data/relationships/profiles/data")
    src = store.profiles.get(str(refs[0].get("id")))
    if src is None or src["id"] == dest["id"]:
        detail = "Source profile not found."
        raise ErrorAnswer(404, detail, pointer="/data/relationships/profiles/data/0/id")
    merged = {**dest, "properties": {**(src.get("properties") or {}), **dest["properties"]}}
    # Merging leaves "only 1 profile, with 1 email address for that contact" (help.klaviyo.com
    # 115005073847): the destination keeps its email and phone; other fields it lacks, the
    # external id included, are filled from the source (the same help page: the destination's
    # data wins where both have a value). The external id joins two people in our graph who
    # each had their own HubSpot contact: removals must then reach both (connector/sync/plan.py).
    for key in _EDITABLE:
        if key not in ("email", "phone_number") and not merged.get(key) and src.get(key):
            merged[key] = src[key]
    merged["updated"] = float(int(time.time()))
    for event in store.events.values():
        if event["profile_id"] == src["id"]:
            event["profile_id"] = dest["id"]
    for lst in store.lists.values():
        if src["id"] in lst["members"]:
            lst["members"].add(dest["id"])
    store.delete_profile(src["id"], keep_events=True)
    store.put_profile(merged)
    store.merged[src["id"]] = dest["id"]
    links = {"self": f"{PUBLIC_HOST}/api/profiles/{dest['id']}/"}
    return ok({"data": {"type": "profile", "id": dest["id"], "links": links}, "links": links}, 201)


def delete_profiles(store: KlaviyoStore, ids: list[str]) -> int:
    """Test-only mutator: delete profiles with their events and memberships.

    Klaviyo's public API deletes a profile only through a data-privacy deletion job
    (``DataPrivacy.request_profile_deletion``), which removes the profile and all its data;
    that route belongs to the privacy work, so tests delete through this hook instead.
    """
    return sum(store.delete_profile(pid) for pid in ids if pid in store.profiles)


def write_routes(emu: KlaviyoEmulator) -> list[tuple[str, str, Handler]]:
    return [
        ("POST", "/api/events", lambda r: _create_event(emu, r)),
        ("PATCH", "/api/profiles/{id}", lambda r: _update_profile(emu, r)),
        ("POST", "/api/profile-merge", lambda r: _merge_profiles(emu, r)),
    ]
