"""How records change under a reader: create, edit, archive (delete) and merge routes.

Routes and status codes are those of hubspot-api-client 12.0.0's ``crm.<type>.basic_api`` and
``batch_api`` (facts §1.2: a 2xx outside the SDK's response map deserialises to ``None``):
create 201, update 200, archive 204 (``DELETE /crm/v3/objects/{type}/{id}``), batch/create 201,
batch/archive 204, merge 200 (``POST /crm/v3/objects/{type}/merge``).

Archived records stay readable with ``archived=true`` on the list and read endpoints and
disappear from search (HubSpot CRM objects reference, facts "December 2026 updates"). A merge
makes a record with a *new* id that lists every merged-away id in ``hs_merged_object_ids``
(HubSpot knowledge base "Merge records": the merged record gets a new record ID; pipe0's HubSpot
merge doc says the same); reading an old id answers with the merged record.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from cdp_hubspot.emulator.inputs import bad_input, batch_body, clean, inputs, store_of, valid
from cdp_hubspot.emulator.objects import CrmObject, ObjectStore
from cdp_hubspot.emulator.values import iso_ms, now_ms
from connector.sdk import ErrorAnswer, Request, Response

if TYPE_CHECKING:
    from cdp_hubspot.emulator.server import HubSpotEmulator

__all__ = ["LifecycleRoutes", "archive", "create", "merge"]

_OBJECTS = "/crm/v3/objects/{objectType}"
MERGED = "hs_merged_object_ids"


def create(
    emu: HubSpotEmulator, store: ObjectStore, props: dict[str, str], to_contacts: list[str]
) -> CrmObject:
    """A new record; a deal is associated with the given contacts (both directions)."""
    email = (props.get("email") or "").lower()
    if email and email in store.by_email:
        raise ErrorAnswer(
            409,
            f"Contact already exists. Existing ID: {store.by_email[email]}",
            category="CONFLICT",
        )
    ms = now_ms()
    rid = store.new_id()
    base = {"createdate": iso_ms(ms), "hs_object_id": rid, store.modified_prop: iso_ms(ms)}
    links = {"contacts": list(to_contacts)} if store is emu.deals and to_contacts else {}
    record = CrmObject(rid, {**base, **props}, ms, ms, associations=links)
    store.put(record)
    for contact in links.get("contacts", []):
        emu.contacts.records[contact].associations.setdefault("deals", []).append(rid)
    return record


def archive(store: ObjectStore, rid: str, ms: int, lists: dict[str, dict[str, str]]) -> None:
    """Archive a record; a contact leaves every list (a deleted contact is no list member)."""
    record = store.remove(rid)
    record.archived_ms = ms
    store.archived[rid] = record
    if store.object_type == "contacts":
        for members in lists.values():
            members.pop(rid, None)


def merge(emu: HubSpotEmulator, store: ObjectStore, primary: str, secondary: str) -> CrmObject:
    """Merge ``secondary`` into ``primary``: a new record, the primary's values winning."""
    if primary == secondary or primary not in store.records or secondary not in store.records:
        raise bad_input(f"Cannot merge {secondary} into {primary}: both must be live and differ")
    ms = now_ms()
    first, second = store.records[primary], store.records[secondary]
    rid = store.new_id()
    merged_ids = {primary, secondary}
    for old in (first, second):
        merged_ids |= {i for i in (old.props.get(MERGED) or "").split(";") if i}
    props = {k: v for k, v in second.props.items() if v not in (None, "")}
    props.update({k: v for k, v in first.props.items() if v not in (None, "")})
    props.update(
        {
            "hs_object_id": rid,
            MERGED: ";".join(sorted(merged_ids, key=int)),
            store.modified_prop: iso_ms(ms),
            "createdate": min(
                first.props.get("createdate") or "", second.props.get("createdate") or ""
            )
            or iso_ms(ms),
        }
    )
    links: dict[str, list[str]] = {}
    for old in (first, second):
        for kind, ids in old.associations.items():
            links.setdefault(kind, [])
            links[kind] += [i for i in ids if i not in links[kind]]
    emails = [(o.props.get("email") or "").lower() for o in (first, second)]
    for old_id in (primary, secondary):
        store.remove(old_id)
        store.merged_into[old_id] = rid
    for moved, new in list(store.merged_into.items()):
        if new in (primary, secondary):
            store.merged_into[moved] = rid
    record = CrmObject(rid, props, min(first.created_ms, second.created_ms), ms, associations=links)
    store.put(record)
    for email in emails:
        if email:
            store.by_email[email] = rid
    _repoint(emu, store, {primary, secondary}, rid, links)
    if store is emu.contacts:  # the merged record is in every list either one was in
        for members in emu.members.values():
            stamps = [members.pop(old) for old in (primary, secondary) if old in members]
            if stamps:
                members[rid] = min(stamps)
    return record


def _repoint(
    emu: HubSpotEmulator, store: ObjectStore, old: set[str], new: str, links: dict[str, list[str]]
) -> None:
    """The other side of each association now points at the merged record."""
    for kind, ids in links.items():
        other = emu.store(kind)
        if other is None:
            continue
        for oid in ids:
            target = other.records.get(oid)
            if target is None:
                continue
            mine = target.associations.get(store.object_type, [])
            target.associations[store.object_type] = [
                *[i for i in mine if i not in old],
                *([new] if new not in mine else []),
            ]


def resolve(store: ObjectStore, rid: str) -> str:
    """A merged-away id reads as the record it was merged into."""
    return store.merged_into.get(rid, rid)


class LifecycleRoutes:
    """Write routes that change records the way people do in a portal."""

    def __init__(self, emu: HubSpotEmulator) -> None:
        self.emu = emu

    def register(self) -> None:
        self.emu.routes(
            [
                ("POST", f"{_OBJECTS}/merge", self.merge),
                ("POST", f"{_OBJECTS}/batch/create", self.batch_create),
                ("POST", f"{_OBJECTS}/batch/archive", self.batch_archive),
                ("POST", _OBJECTS, self.create),
                ("PATCH", f"{_OBJECTS}/{{objectId}}", self.update),
                ("DELETE", f"{_OBJECTS}/{{objectId}}", self.archive),
            ]
        )

    def _create(self, store: ObjectStore, item: dict[str, Any]) -> CrmObject:
        (props,) = valid([clean(store, item.get("properties") or {})])
        contacts = [
            str((a.get("to") or {}).get("id", ""))
            for a in item.get("associations") or []
            if str((a.get("to") or {}).get("id", "")) in self.emu.contacts.records
        ]
        return create(self.emu, store, props, contacts)

    def create(self, request: Request) -> Response:
        store = store_of(self.emu, request)
        return Response(201, self._create(store, request.json() or {}).to_json(None))

    def batch_create(self, request: Request) -> Response:
        store = store_of(self.emu, request)
        made = [self._create(store, i) for i in inputs(request.json() or {})]
        return Response(201, batch_body([r.to_json(None) for r in made]))

    def update(self, request: Request) -> Response:
        store = store_of(self.emu, request)
        rid = resolve(store, request.params["objectId"])
        if rid not in store.records:
            return self.emu.error_response(404, "Object not found. objectId are usually numeric.")
        (props,) = valid([clean(store, (request.json() or {}).get("properties") or {})])
        return Response(200, store.touch(store.records[rid], props, now_ms()).to_json(None))

    def archive(self, request: Request) -> Response:
        store = store_of(self.emu, request)
        rid = request.params["objectId"]
        if rid in store.records:  # archiving a missing or archived id is a 204 too
            archive(store, rid, now_ms(), self.emu.members)
        return Response(204, None)

    def batch_archive(self, request: Request) -> Response:
        store = store_of(self.emu, request)
        ms = now_ms()
        for item in inputs(request.json() or {}):
            rid = str(item.get("id", ""))
            if rid in store.records:
                archive(store, rid, ms, self.emu.members)
        return Response(204, None)

    def merge(self, request: Request) -> Response:
        store = store_of(self.emu, request)
        body = request.json() or {}
        primary = str(body.get("primaryObjectId") or "")
        secondary = str(body.get("objectIdToMerge") or "")
        return Response(200, merge(self.emu, store, primary, secondary).to_json(None))
