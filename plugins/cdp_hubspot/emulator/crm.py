"""CRM v3 object routes (search, batch read/upsert/update, pages) and associations v4.

Read routes take ``archived=true`` (the SDK sends Python's ``True``, facts §1.2): the list and
read endpoints then answer from the archived records (HubSpot CRM objects reference); a
merged-away id reads as the record it was merged into (see ``lifecycle``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from cdp_hubspot.emulator.inputs import (
    bad_input,
    batch_body,
    clean,
    inputs,
    lookup,
    no_duplicates,
    store_of,
    type_id,
    valid,
    with_id_prop,
    written,
)
from cdp_hubspot.emulator.lifecycle import resolve
from cdp_hubspot.emulator.objects import CrmObject, ObjectStore, SearchError
from cdp_hubspot.emulator.values import iso_ms, now_ms
from cdp_hubspot.limits import OBJECT_PAGE_MAX
from connector.sdk import ErrorAnswer, Request, Response

if TYPE_CHECKING:
    from cdp_hubspot.emulator.server import HubSpotEmulator

__all__ = ["ObjectRoutes"]

_OBJECTS = "/crm/v3/objects/{objectType}"


class ObjectRoutes:
    """Handlers of the CRM object endpoints, over the emulator's object stores."""

    def __init__(self, emu: HubSpotEmulator) -> None:
        self.emu = emu

    def register(self) -> None:
        self.emu.routes(
            [
                ("POST", f"{_OBJECTS}/search", self.search),
                ("POST", f"{_OBJECTS}/batch/read", self.batch_read),
                ("POST", f"{_OBJECTS}/batch/upsert", self.batch_upsert),
                ("POST", f"{_OBJECTS}/batch/update", self.batch_update),
                ("GET", _OBJECTS, self.get_page),
                ("GET", f"{_OBJECTS}/{{objectId}}", self.get_one),
            ]
        )

    def register_associations(self) -> None:
        self.emu.routes(
            [
                (
                    "POST",
                    "/crm/v4/associations/{fromObjectType}/{toObjectType}/batch/read",
                    self.association_read,
                ),
                (
                    "GET",
                    "/crm/v4/objects/{objectType}/{objectId}/associations/{toObjectType}",
                    self.association_page,
                ),
            ]
        )

    def search(self, request: Request) -> Response:
        try:
            return Response(200, store_of(self.emu, request).search(request.json() or {}))
        except SearchError as exc:
            return self.emu.error_response(400, str(exc))

    def batch_read(self, request: Request) -> Response:
        store, body = store_of(self.emu, request), request.json() or {}
        id_prop = body.get("idProperty")
        wanted = body.get("properties") or None
        pool = store.archived if _archived(request) else store.records
        found, missing = [], []
        for item in inputs(body):
            key = str(item.get("id", ""))
            rid = key if pool is store.archived else lookup(store, resolve(store, key), id_prop)
            if rid is None or rid not in pool:
                missing.append(key)
            else:
                found.append(pool[rid].to_json(with_id_prop(wanted, id_prop)))
        out = batch_body(found)
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

    def batch_upsert(self, request: Request) -> Response:
        store, body = store_of(self.emu, request), request.json() or {}
        items = inputs(body)
        keys = [
            str(i.get("id", "")).lower() if i.get("idProperty") == "email" else str(i.get("id", ""))
            for i in items
        ]
        no_duplicates(keys)
        _unique_id_props(store, {str(i.get("idProperty") or "") for i in items})
        staged = valid(
            [
                clean(
                    store,
                    {**(i.get("properties") or {}), "email": key}
                    if i.get("idProperty") == "email"
                    else i.get("properties") or {},
                )
                for i, key in zip(items, keys, strict=True)
            ]
        )
        ms = now_ms()
        results = [
            _upsert_one(store, item, key, cleaned, ms)
            for item, key, cleaned in zip(items, keys, staged, strict=True)
        ]
        return Response(200, batch_body(results))

    def batch_update(self, request: Request) -> Response:
        store, body = store_of(self.emu, request), request.json() or {}
        items = inputs(body)
        keys = [str(i.get("id", "")) for i in items]
        no_duplicates(keys)
        if any(i.get("idProperty") not in (None, "", "hs_object_id") for i in items):
            raise bad_input(
                f"Unable to perform update/upsert by non-unique {type_id(store)} property; use "
                "batch/upsert with idProperty"
            )
        missing = [k for k in keys if k not in store.records]
        if missing:
            raise bad_input(
                f"Object not found. objectId are usually numeric. ids: {missing}",
                category="OBJECT_NOT_FOUND",
            )
        staged = valid([clean(store, i.get("properties") or {}) for i in items])
        for k, p in zip(keys, staged, strict=True):
            # an address another contact holds: HubSpot keeps one contact per address and
            # refuses the update as it refuses a create (409 CONFLICT, stape-io/hubspot-tag#7)
            held = store.by_email.get((p.get("email") or "").lower())
            if held is not None and held != k:
                raise ErrorAnswer(
                    409, f"Contact already exists. Existing ID: {held}", category="CONFLICT"
                )
        ms = now_ms()
        results = [
            store.touch(store.records[k], p, ms).to_json(written(p, store))
            for k, p in zip(keys, staged, strict=True)
        ]
        return Response(200, batch_body(results))

    def get_page(self, request: Request) -> Response:
        store = store_of(self.emu, request)
        limit = min(int(request.arg("limit", "10") or 10), OBJECT_PAGE_MAX)
        pool = store.archived if _archived(request) else store.records
        ids = sorted(pool, key=int)
        after = request.arg("after")
        start = (
            next((i for i, rid in enumerate(ids) if int(rid) > int(after)), len(ids))
            if after
            else 0
        )
        wanted = request.args("properties") or None
        page = ids[start : start + limit]
        out: dict[str, Any] = {"results": [pool[r].to_json(wanted) for r in page]}
        if start + limit < len(ids):
            out["paging"] = {"next": {"after": page[-1], "link": f"?after={page[-1]}"}}
        return Response(200, out)

    def get_one(self, request: Request) -> Response:
        store = store_of(self.emu, request)
        wanted = request.args("properties") or None
        if _archived(request):
            gone = store.archived.get(request.params["objectId"])
            if gone is None:
                return self.emu.error_response(
                    404, "Object not found. objectId are usually numeric."
                )
            return Response(200, gone.to_json(wanted))
        key = resolve(store, request.params["objectId"])
        rid = lookup(store, key, request.arg("idProperty"))
        if rid is None:
            return self.emu.error_response(404, "Object not found. objectId are usually numeric.")
        return Response(200, store.records[rid].to_json(wanted))

    def association_read(self, request: Request) -> Response:
        src = self.emu.store(request.params["fromObjectType"])
        dst = self.emu.store(request.params["toObjectType"])
        if src is None or dst is None:
            return self.emu.error_response(400, "Unknown object type")
        # deal→contact 3, contact→deal 4 (HUBSPOT_DEFINED)
        type_number = 3 if src is self.emu.deals else 4
        results = []
        for item in (request.json() or {}).get("inputs") or []:
            rid = str(item.get("id", ""))
            # an archived deal keeps its associations (it can be restored for 90 days)
            record = src.records.get(rid) or src.archived.get(rid)
            if record is None:
                continue
            to = record.associations.get(dst.object_type, [])
            results.append({"from": {"id": rid}, "to": [_association(t, type_number) for t in to]})
        return Response(200, batch_body(results))

    def association_page(self, request: Request) -> Response:
        src = self.emu.store(request.params["objectType"])
        dst = self.emu.store(request.params["toObjectType"])
        if src is None or dst is None:
            return self.emu.error_response(400, "Unknown object type")
        record = src.records.get(resolve(src, request.params["objectId"]))
        if record is None:
            return self.emu.error_response(404, "Object not found. objectId are usually numeric.")
        type_number = 3 if src is self.emu.deals else 4
        to = sorted(record.associations.get(dst.object_type, []), key=int)
        return Response(200, {"results": [_association(t, type_number) for t in to]})


def _archived(request: Request) -> bool:
    return (request.arg("archived") or "").lower() == "true"


def _unique_id_props(store: ObjectStore, id_props: set[str]) -> None:
    for prop in id_props - {""}:
        definition = store.properties.get(prop)
        if definition is None or not definition.get("hasUniqueValue"):
            raise bad_input(
                f"Unable to perform update/upsert by non-unique {type_id(store)} property {prop}"
            )


def _upsert_one(
    store: ObjectStore, item: dict[str, Any], key: str, cleaned: dict[str, str], ms: int
) -> dict[str, Any]:
    # the email was only added to be validated; write what the input carried
    props = {
        k: v
        for k, v in cleaned.items()
        if k != "email" or "email" in (item.get("properties") or {})
    }
    id_prop = item.get("idProperty") or None
    rid = lookup(store, key, id_prop)
    is_new = rid is None
    if rid is None:
        if id_prop is None:
            raise bad_input(f"Object not found. objectId are usually numeric: {key}")
        rid = store.new_id()
        props = {**props, str(id_prop): key}
        created = {"createdate": iso_ms(ms), "hs_object_id": rid, store.modified_prop: iso_ms(ms)}
        record = CrmObject(rid, {**created, **props}, ms, ms)
        store.put(record)
    else:
        record = store.touch(store.records[rid], props, ms)
    result = record.to_json(written(props, store))
    result["new"] = is_new
    return result


def _association(to_id: str, type_number: int) -> dict[str, Any]:
    return {
        "toObjectId": int(to_id),
        "associationTypes": [{"category": "HUBSPOT_DEFINED", "typeId": type_number, "label": None}],
    }
