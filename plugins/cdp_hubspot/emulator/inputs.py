"""Checks and shapes shared by the HubSpot emulator's CRM routes: batch inputs, lookups, values.

Every refusal raises ``ErrorAnswer``, which the server turns into HubSpot's error body; a batch
endpoint refuses the whole batch for one bad input, like the real API (facts §2.2).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from cdp_hubspot.emulator.objects import ObjectStore
from cdp_hubspot.emulator.values import (
    PropertyValueError,
    errors_message,
    iso_ms,
    normalise_value,
    now_ms,
)
from cdp_hubspot.limits import BATCH_INPUTS
from connector.sdk import ErrorAnswer, Request

if TYPE_CHECKING:
    from cdp_hubspot.emulator.server import HubSpotEmulator

__all__ = [
    "bad_input",
    "batch_body",
    "clean",
    "inputs",
    "lookup",
    "no_duplicates",
    "store_of",
    "type_id",
    "valid",
    "with_id_prop",
    "written",
]

_READ_ONLY = {"hs_object_id", "createdate", "lastmodifieddate", "hs_lastmodifieddate"}


def bad_input(message: str, **extra: Any) -> ErrorAnswer:
    return ErrorAnswer(400, message, **extra)


def store_of(emu: HubSpotEmulator, request: Request) -> ObjectStore:
    store = emu.store(request.params["objectType"])
    if store is None:
        raise ErrorAnswer(404, f"Unable to infer object type from: {request.params['objectType']}")
    return store


def type_id(store: ObjectStore) -> str:
    return "0-1" if store.object_type == "contacts" else "0-3"


def inputs(body: dict[str, Any]) -> list[dict[str, Any]]:
    items = body.get("inputs")
    if not isinstance(items, list):
        raise bad_input("inputs is required")
    if len(items) > BATCH_INPUTS:
        raise bad_input(f"Batch input size must be less than or equal to {BATCH_INPUTS}")
    return [i if isinstance(i, dict) else {"id": i} for i in items]


def no_duplicates(keys: list[str]) -> None:
    seen: set[str] = set()
    dupes = sorted({k for k in keys if k in seen or seen.add(k)})  # type: ignore[func-returns-value]
    if dupes:
        raise bad_input(f"Duplicate IDs found in batch input: {dupes}. IDs must be unique")


def lookup(store: ObjectStore, key: str, id_prop: str | None) -> str | None:
    if not id_prop or id_prop == "hs_object_id":
        return key if key in store.records else None
    if id_prop == "email":
        return store.by_email.get(key.lower())
    wanted = key
    for rid, record in store.records.items():
        value = record.props.get(id_prop)
        if value is not None and value == wanted:
            return rid
    return None


def _value_error(name: str, message: str, code: str) -> dict[str, Any]:
    return PropertyValueError(name, message, code).detail


def clean(store: ObjectStore, raw: dict[str, Any]) -> dict[str, str] | list[dict[str, Any]]:
    """Normalised values, or the list of HubSpot's per-property error entries."""
    out: dict[str, str] = {}
    errors: list[dict[str, Any]] = []
    for name, value in raw.items():
        prop = store.properties.get(name)
        if prop is None:
            errors.append(
                _value_error(name, f'Property "{name}" does not exist', "PROPERTY_DOESNT_EXIST")
            )
            continue
        if name in _READ_ONLY:
            message = f"{name} is a read only property; its value cannot be set."
            errors.append(_value_error(name, message, "READ_ONLY_VALUE"))
            continue
        try:
            out[name] = normalise_value(prop, value)
        except PropertyValueError as exc:
            errors.append(exc.detail)
        if name == "email" and str(value).lower() in store.invalid_emails:
            errors.append(_value_error(name, f"Email address {value} is invalid", "INVALID_EMAIL"))
        if name == "email" and out.get(name):
            out[name] = out[name].lower()
    return errors if errors else out


def valid(staged: list[dict[str, str] | list[dict[str, Any]]]) -> list[dict[str, str]]:
    """The cleaned inputs, or a 400 listing every bad value (one bad input fails the batch)."""
    details = [d for s in staged if isinstance(s, list) for d in s]
    if details:
        raise bad_input(errors_message(details))
    return [s for s in staged if isinstance(s, dict)]


def written(props: Any, store: ObjectStore) -> list[str]:
    return sorted(
        {*props, "hs_object_id", "createdate", store.modified_prop, "email"}
        if store.object_type == "contacts"
        else {*props, "hs_object_id", store.modified_prop}
    )


def with_id_prop(wanted: list[str] | None, id_prop: str | None) -> list[str] | None:
    if wanted is None:
        return None
    return sorted({*wanted, "hs_object_id", *([id_prop] if id_prop else [])})


def batch_body(results: list[dict[str, Any]]) -> dict[str, Any]:
    stamp = iso_ms(now_ms())
    return {
        "status": "COMPLETE",
        "results": results,
        "startedAt": stamp,
        "completedAt": stamp,
        "links": {},
    }
