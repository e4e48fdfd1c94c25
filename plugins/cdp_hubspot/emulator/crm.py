"""CRM v3 object, property and association routes of the HubSpot emulator."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from cdp_hubspot.emulator.objects import CrmObject, ObjectStore, SearchError
from cdp_hubspot.emulator.schema import property_record
from cdp_hubspot.emulator.values import (
    PropertyValueError,
    errors_message,
    iso_ms,
    normalise_value,
    now_ms,
)
from connector.sdk import Request, Response

if TYPE_CHECKING:
    from cdp_hubspot.emulator.server import HubSpotEmulator

__all__ = ["register"]

MAX_BATCH = 100  # batch endpoints take at most 100 inputs (facts §2.2)
_TYPES = {"bool", "date", "datetime", "enumeration", "number", "phone_number", "string"}
_FIELD_TYPES = {
    "booleancheckbox", "calculation_equation", "checkbox", "date", "file", "html", "number",
    "phonenumber", "radio", "select", "text", "textarea",
}  # fmt: skip
_READ_ONLY = {"hs_object_id", "createdate", "lastmodifieddate", "hs_lastmodifieddate"}


def register(emu: HubSpotEmulator) -> None:  # noqa: PLR0915 - a flat route table reads best
    def store_of(request: Request) -> ObjectStore:
        store = emu.store(request.params["objectType"])
        if store is None:
            raise _NotFoundError(
                f"Unable to infer object type from: {request.params['objectType']}"
            )
        return store

    def guarded(handler: Callable[[Request], Response]) -> Callable[[Request], Response]:
        def run(request: Request) -> Response:
            try:
                return handler(request)
            except _NotFoundError as exc:
                return emu.error_response(404, str(exc))
            except _BadInputError as exc:
                return emu.error_response(400, str(exc), **exc.extra)

        return run

    def search(request: Request) -> Response:
        try:
            return Response(200, store_of(request).search(request.json() or {}))
        except SearchError as exc:
            return emu.error_response(400, str(exc))

    def batch_read(request: Request) -> Response:
        store, body = store_of(request), request.json() or {}
        inputs = _inputs(body)
        id_prop = body.get("idProperty")
        wanted = body.get("properties") or None
        found, missing = [], []
        for item in inputs:
            key = str(item.get("id", ""))
            rid = _lookup(store, key, id_prop)
            if rid is None:
                missing.append(key)
            else:
                found.append(store.records[rid].to_json(_with(wanted, id_prop)))
        out = _batch(found)
        if not missing:
            return Response(200, out)
        out["numErrors"] = 1
        out["errors"] = [
            {
                "status": "error",
                "category": "OBJECT_NOT_FOUND",
                "message": f"Could not get some {store.object_type.upper()[:-1]} objects, they may "
                "be deleted or not exist. Check that ids are valid.",
                "context": {"ids": missing},
                "errors": [],
                "links": {},
            }
        ]
        return Response(207, out)

    def batch_upsert(request: Request) -> Response:
        store, body = store_of(request), request.json() or {}
        inputs = _inputs(body)
        id_props = {str(i.get("idProperty") or "") for i in inputs}
        keys = [
            str(i.get("id", "")).lower() if i.get("idProperty") == "email" else str(i.get("id", ""))
            for i in inputs
        ]
        _no_duplicates(keys)
        for prop in id_props - {""}:
            definition = store.properties.get(prop)
            if definition is None or not definition.get("hasUniqueValue"):
                raise _BadInputError(
                    "Unable to perform update/upsert by non-unique "
                    f"{_type_id(store)} property {prop}"
                )
        staged = _valid(
            [
                _clean(
                    store,
                    {**(i.get("properties") or {}), "email": key}
                    if i.get("idProperty") == "email"
                    else i.get("properties") or {},
                )
                for i, key in zip(inputs, keys, strict=True)
            ]
        )
        ms, results = now_ms(), []
        for item, key, clean in zip(inputs, keys, staged, strict=True):
            # the email was only added to be validated; write what the input carried
            props = {
                k: v
                for k, v in clean.items()
                if k != "email" or "email" in (item.get("properties") or {})
            }
            id_prop = item.get("idProperty") or None
            rid = _lookup(store, key, id_prop)
            is_new = rid is None
            if rid is None:
                if id_prop is None:
                    raise _BadInputError(f"Object not found. objectId are usually numeric: {key}")
                rid = store.new_id()
                props = {**props, str(id_prop): key}
                created = {
                    "createdate": iso_ms(ms),
                    "hs_object_id": rid,
                    store.modified_prop: iso_ms(ms),
                }
                record = CrmObject(rid, {**created, **props}, ms, ms)
                store.put(record)
            else:
                record = store.touch(store.records[rid], props, ms)
            result = record.to_json(_written(props, store))
            result["new"] = is_new
            results.append(result)
        return Response(200, _batch(results))

    def batch_update(request: Request) -> Response:
        store, body = store_of(request), request.json() or {}
        inputs = _inputs(body)
        keys = [str(i.get("id", "")) for i in inputs]
        _no_duplicates(keys)
        if any(i.get("idProperty") not in (None, "", "hs_object_id") for i in inputs):
            raise _BadInputError(
                f"Unable to perform update/upsert by non-unique {_type_id(store)} property; use "
                "batch/upsert with idProperty"
            )
        missing = [k for k in keys if k not in store.records]
        if missing:
            raise _BadInputError(
                f"Object not found. objectId are usually numeric. ids: {missing}",
                category="OBJECT_NOT_FOUND",
            )
        staged = _valid([_clean(store, i.get("properties") or {}) for i in inputs])
        ms = now_ms()
        results = [
            store.touch(store.records[k], p, ms).to_json(_written(p, store))
            for k, p in zip(keys, staged, strict=True)
        ]
        return Response(200, _batch(results))

    def get_page(request: Request) -> Response:
        store = store_of(request)
        limit = min(int(request.arg("limit", "10") or 10), 100)
        ids = sorted(store.records, key=int)
        after = request.arg("after")
        start = (
            next((i for i, rid in enumerate(ids) if int(rid) > int(after)), len(ids))
            if after
            else 0
        )
        wanted = request.args("properties") or None
        page = ids[start : start + limit]
        out: dict[str, Any] = {"results": [store.records[r].to_json(wanted) for r in page]}
        if start + limit < len(ids):
            out["paging"] = {"next": {"after": page[-1], "link": f"?after={page[-1]}"}}
        return Response(200, out)

    def get_one(request: Request) -> Response:
        store = store_of(request)
        rid = _lookup(store, request.params["objectId"], request.arg("idProperty"))
        if rid is None:
            return emu.error_response(404, "Object not found. objectId are usually numeric.")
        return Response(200, store.records[rid].to_json(request.args("properties") or None))

    # ---- properties and groups ------------------------------------------------------------
    def groups_of(request: Request) -> dict[str, dict[str, Any]]:
        store = store_of(request)
        return emu.groups.setdefault(store.object_type, {})

    def list_groups(request: Request) -> Response:
        return Response(200, {"results": list(groups_of(request).values())})

    def get_group(request: Request) -> Response:
        group = groups_of(request).get(request.params["groupName"])
        if group is None:
            return emu.error_response(404, f"group {request.params['groupName']} does not exist")
        return Response(200, group)

    def create_group(request: Request) -> Response:
        body, groups = request.json() or {}, groups_of(request)
        name = str(body.get("name") or "")
        if not name or not body.get("label"):
            raise _BadInputError("name and label are required")
        if name in groups:
            return emu.error_response(
                409,
                f"A property group with name {name} already exists",
                category="OBJECT_ALREADY_EXISTS",
            )
        groups[name] = {
            "name": name,
            "label": str(body["label"]),
            "displayOrder": int(body.get("displayOrder", -1)),
            "archived": False,
        }
        return Response(201, groups[name])

    def list_properties(request: Request) -> Response:
        return Response(200, {"results": list(store_of(request).properties.values())})

    def get_property(request: Request) -> Response:
        prop = store_of(request).properties.get(request.params["propertyName"])
        if prop is None:
            return emu.error_response(
                404, f"Unable to find property {request.params['propertyName']}"
            )
        return Response(200, prop)

    def create_property(request: Request) -> Response:
        store, body = store_of(request), request.json() or {}
        for key in ("name", "label", "type", "fieldType", "groupName"):
            if not body.get(key):
                raise _BadInputError(f"{key} is required")
        name = str(body["name"])
        if name in store.properties:
            return emu.error_response(
                409, f"Property named '{name}' already exists.", category="OBJECT_ALREADY_EXISTS"
            )
        _check_definition(body, emu.groups.get(store.object_type, {}))
        prop = property_record(
            name,
            str(body["type"]),
            str(body["fieldType"]),
            str(body["groupName"]),
            label=str(body["label"]),
            description=str(body.get("description") or ""),
        )
        prop["options"] = _options(body.get("options"))
        prop["hasUniqueValue"] = bool(body.get("hasUniqueValue", False))
        store.properties[name] = prop
        return Response(201, prop)

    def update_property(request: Request) -> Response:
        store, body = store_of(request), request.json() or {}
        prop = store.properties.get(request.params["propertyName"])
        if prop is None:
            return emu.error_response(
                404, f"Unable to find property {request.params['propertyName']}"
            )
        if prop["hubspotDefined"] and ("type" in body or "fieldType" in body):
            raise _BadInputError(f"Property {prop['name']} is read-only; its type cannot change")
        merged = {**prop, **{k: v for k, v in body.items() if k != "options"}}
        if "options" in body:
            merged["options"] = _options(body["options"])
        _check_definition(merged, emu.groups.get(store.object_type, {}))
        merged["updatedAt"] = iso_ms(now_ms())
        store.properties[prop["name"]] = merged
        return Response(200, merged)

    # ---- associations v4 ------------------------------------------------------------------
    def association_read(request: Request) -> Response:
        src = emu.store(request.params["fromObjectType"])
        dst = emu.store(request.params["toObjectType"])
        if src is None or dst is None:
            return emu.error_response(400, "Unknown object type")
        inputs = (request.json() or {}).get("inputs") or []
        results = []
        type_id = 3 if src is emu.deals else 4  # deal→contact 3, contact→deal 4 (HUBSPOT_DEFINED)
        for item in inputs:
            rid = str(item.get("id", ""))
            record = src.records.get(rid)
            if record is None:
                continue
            to = record.associations.get(dst.object_type, [])
            results.append(
                {
                    "from": {"id": rid},
                    "to": [
                        {
                            "toObjectId": int(t),
                            "associationTypes": [
                                {"category": "HUBSPOT_DEFINED", "typeId": type_id, "label": None}
                            ],
                        }
                        for t in to
                    ],
                }
            )
        return Response(200, _batch(results))

    objects = "/crm/v3/objects/{objectType}"
    props = "/crm/v3/properties/{objectType}"
    table = [
        ("POST", f"{objects}/search", search),
        ("POST", f"{objects}/batch/read", batch_read),
        ("POST", f"{objects}/batch/upsert", batch_upsert),
        ("POST", f"{objects}/batch/update", batch_update),
        ("GET", objects, get_page),
        ("GET", f"{objects}/{{objectId}}", get_one),
        ("GET", f"{props}/groups", list_groups),
        ("POST", f"{props}/groups", create_group),
        ("GET", f"{props}/groups/{{groupName}}", get_group),
        ("GET", props, list_properties),
        ("POST", props, create_property),
        ("GET", f"{props}/{{propertyName}}", get_property),
        ("PATCH", f"{props}/{{propertyName}}", update_property),
        (
            "POST",
            "/crm/v4/associations/{fromObjectType}/{toObjectType}/batch/read",
            association_read,
        ),
    ]
    for method, path, handler in table:
        emu.route(method, path, guarded(handler))


class _NotFoundError(Exception):
    pass


class _BadInputError(Exception):
    def __init__(self, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.extra = extra


def _type_id(store: ObjectStore) -> str:
    return "0-1" if store.object_type == "contacts" else "0-3"


def _inputs(body: dict[str, Any]) -> list[dict[str, Any]]:
    inputs = body.get("inputs")
    if not isinstance(inputs, list):
        raise _BadInputError("inputs is required")
    if len(inputs) > MAX_BATCH:
        raise _BadInputError(f"Batch input size must be less than or equal to {MAX_BATCH}")
    return [i if isinstance(i, dict) else {"id": i} for i in inputs]


def _no_duplicates(keys: list[str]) -> None:
    seen: set[str] = set()
    dupes = sorted({k for k in keys if k in seen or seen.add(k)})  # type: ignore[func-returns-value]
    if dupes:
        raise _BadInputError(f"Duplicate IDs found in batch input: {dupes}. IDs must be unique")


def _lookup(store: ObjectStore, key: str, id_prop: str | None) -> str | None:
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


def _clean(store: ObjectStore, raw: dict[str, Any]) -> dict[str, str] | list[dict[str, Any]]:
    """Normalised values, or the list of HubSpot's per-property error entries."""
    out: dict[str, str] = {}
    errors: list[dict[str, Any]] = []
    for name, value in raw.items():
        prop = store.properties.get(name)
        if prop is None:
            errors.append(
                PropertyValueError(
                    name, f'Property "{name}" does not exist', "PROPERTY_DOESNT_EXIST"
                ).detail
            )
            continue
        if name in _READ_ONLY:
            errors.append(
                PropertyValueError(
                    name,
                    f"{name} is a read only property; its value cannot be set.",
                    "READ_ONLY_VALUE",
                ).detail
            )
            continue
        try:
            out[name] = normalise_value(prop, value)
        except PropertyValueError as exc:
            errors.append(exc.detail)
        if name == "email" and str(value).lower() in store.invalid_emails:
            errors.append(
                PropertyValueError(
                    name, f"Email address {value} is invalid", "INVALID_EMAIL"
                ).detail
            )
        if name == "email" and out.get(name):
            out[name] = out[name].lower()
    return errors if errors else out


def _valid(staged: list[dict[str, str] | list[dict[str, Any]]]) -> list[dict[str, str]]:
    """The cleaned inputs, or a 400 listing every bad value (one bad input fails the batch)."""
    details = [d for s in staged if isinstance(s, list) for d in s]
    if details:
        raise _BadInputError(errors_message(details))
    return [s for s in staged if isinstance(s, dict)]


def _written(props: Any, store: ObjectStore) -> list[str]:
    return sorted(
        {*props, "hs_object_id", "createdate", store.modified_prop, "email"}
        if store.object_type == "contacts"
        else {*props, "hs_object_id", store.modified_prop}
    )


def _with(wanted: list[str] | None, id_prop: str | None) -> list[str] | None:
    if wanted is None:
        return None
    return sorted({*wanted, "hs_object_id", *([id_prop] if id_prop else [])})


def _batch(results: list[dict[str, Any]]) -> dict[str, Any]:
    stamp = iso_ms(now_ms())
    return {
        "status": "COMPLETE",
        "results": results,
        "startedAt": stamp,
        "completedAt": stamp,
        "links": {},
    }


def _options(raw: Any) -> list[dict[str, Any]]:
    out = []
    for i, opt in enumerate(raw or []):
        if not isinstance(opt, dict) or "value" not in opt:
            raise _BadInputError("each option needs a label and a value")
        out.append(
            {
                "label": str(opt.get("label", opt["value"])),
                "value": str(opt["value"]),
                "displayOrder": int(opt.get("displayOrder", i)),
                "hidden": bool(opt.get("hidden", False)),
            }
        )
    return out


def _check_definition(body: dict[str, Any], groups: dict[str, Any]) -> None:
    if body["type"] not in _TYPES:
        raise _BadInputError(f"type {body['type']} is not one of {sorted(_TYPES)}")
    if body["fieldType"] not in _FIELD_TYPES:
        raise _BadInputError(f"fieldType {body['fieldType']} is not one of {sorted(_FIELD_TYPES)}")
    if body["groupName"] not in groups:
        raise _BadInputError(f"group {body['groupName']} does not exist")
    if body["type"] == "enumeration" and not body.get("options"):
        raise _BadInputError("enumeration properties need at least one option")
