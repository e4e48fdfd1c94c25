"""Lists v3 routes of the HubSpot emulator (facts §2.4).

Names are unique per portal; only MANUAL and SNAPSHOT lists accept membership writes; add/remove
answer ``recordsIdsAdded`` (sic, the spec's spelling), ``recordIdsRemoved`` and
``recordIdsMissing`` (ids of records that do not exist); member reads page by record id with
at most 250 per page.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from cdp_hubspot.emulator.values import iso_ms, now_ms
from cdp_hubspot.limits import LIST_MEMBER_PAGE_MAX
from connector.sdk import Request, Response

if TYPE_CHECKING:
    from cdp_hubspot.emulator.server import HubSpotEmulator

__all__ = ["ListRoutes"]

_PROCESSING_TYPES = {"MANUAL", "DYNAMIC", "SNAPSHOT"}


class ListRoutes:
    """Handlers of the lists v3 endpoints, over the emulator's lists and members."""

    def __init__(self, emu: HubSpotEmulator) -> None:
        self.emu = emu

    def register(self) -> None:
        base = "/crm/v3/lists"
        self.emu.routes(
            [
                ("POST", f"{base}/", self.create),
                ("POST", f"{base}/search", self.search),
                (
                    "GET",
                    f"{base}/object-type-id/{{objectTypeId}}/name/{{listName}}",
                    self.get_by_name,
                ),
                ("GET", f"{base}/{{listId}}", self.get_by_id),
                ("DELETE", f"{base}/{{listId}}", self.delete),
                ("PUT", f"{base}/{{listId}}/memberships/add", self.add),
                ("PUT", f"{base}/{{listId}}/memberships/remove", self.remove),
                ("PUT", f"{base}/{{listId}}/memberships/add-and-remove", self.add_and_remove),
                ("GET", f"{base}/{{listId}}/memberships", self.members_page),
            ]
        )

    def _public(self, lid: str) -> dict[str, Any]:
        return {**self.emu.lists[lid], "size": len(self.emu.members[lid])}

    def _by_name(self, name: str, object_type_id: str) -> str | None:
        for lid, meta in self.emu.lists.items():
            if meta["name"].lower() == name.lower() and meta["objectTypeId"] == object_type_id:
                return lid
        return None

    def create(self, request: Request) -> Response:
        body = request.json() or {}
        name, type_id = str(body.get("name") or ""), str(body.get("objectTypeId") or "")
        kind = str(body.get("processingType") or "")
        if not name or not type_id or kind not in _PROCESSING_TYPES:
            return self.emu.error_response(
                400, "name, objectTypeId and processingType are required"
            )
        if kind == "DYNAMIC" and not body.get("filterBranch"):
            return self.emu.error_response(400, "DYNAMIC lists need a filterBranch")
        if self._by_name(name, type_id) is not None:
            return self.emu.error_response(
                400,
                f"A list named '{name}' already exists.",
                subCategory="ILS.DUPLICATE_LIST_NAMES",
            )
        self.emu.next_list_id += 1
        lid = str(self.emu.next_list_id)
        stamp = iso_ms(now_ms())
        self.emu.lists[lid] = {
            "listId": lid,
            "listVersion": 1,
            "name": name,
            "objectTypeId": type_id,
            "processingType": kind,
            "processingStatus": "COMPLETE",
            "createdAt": stamp,
            "updatedAt": stamp,
            "filtersUpdatedAt": stamp,
        }
        self.emu.members[lid] = {}
        return Response(200, {"list": self._public(lid)})

    def get_by_name(self, request: Request) -> Response:
        name = unquote(request.params["listName"])
        lid = self._by_name(name, unquote(request.params["objectTypeId"]))
        if lid is None:
            return self.emu.error_response(404, f"List with name {name} does not exist.")
        return Response(200, {"list": self._public(lid)})

    def get_by_id(self, request: Request) -> Response:
        lid = request.params["listId"]
        if lid not in self.emu.lists:
            return self.emu.error_response(404, f"List {lid} does not exist.")
        return Response(200, {"list": self._public(lid)})

    def delete(self, request: Request) -> Response:
        lid = request.params["listId"]
        if lid not in self.emu.lists:
            return self.emu.error_response(404, f"List {lid} does not exist.")
        del self.emu.lists[lid]
        del self.emu.members[lid]
        return Response(204)

    def search(self, request: Request) -> Response:
        body = request.json() or {}
        query = str(body.get("query") or "").lower()
        kinds = set(body.get("processingTypes") or _PROCESSING_TYPES)
        wanted_ids = {str(i) for i in body.get("listIds") or []}
        hits = [
            lid
            for lid, meta in self.emu.lists.items()
            if query in meta["name"].lower()
            and meta["processingType"] in kinds
            and (not wanted_ids or lid in wanted_ids)
        ]
        offset, count = int(body.get("offset") or 0), int(body.get("count") or 20)
        page = hits[offset : offset + count]
        results = [
            {
                **self.emu.lists[lid],
                "additionalProperties": {"hs_list_size": str(len(self.emu.members[lid]))},
            }
            for lid in page
        ]
        return Response(
            200,
            {
                "lists": results,
                "hasMore": offset + count < len(hits),
                "offset": offset + len(page),
                "total": len(hits),
            },
        )

    def _writable(self, lid: str) -> Response | None:
        if lid not in self.emu.lists:
            return self.emu.error_response(404, f"List {lid} does not exist.")
        kind = self.emu.lists[lid]["processingType"]
        if kind not in ("MANUAL", "SNAPSHOT"):
            return self.emu.error_response(
                400,
                f"List {lid} has processingType {kind}; memberships can only be changed for "
                "MANUAL or SNAPSHOT lists.",
            )
        return None

    def _change(self, lid: str, add: list[Any], remove: list[Any]) -> dict[str, Any]:
        members, stamp = self.emu.members[lid], iso_ms(now_ms())
        added, removed, missing = [], [], []
        for rid in (str(r) for r in add):
            if rid not in self.emu.contacts.records:
                missing.append(rid)
            elif rid not in members:
                members[rid] = stamp
                added.append(rid)
        for rid in (str(r) for r in remove):
            if rid not in self.emu.contacts.records:
                missing.append(rid)
            elif members.pop(rid, None) is not None:
                removed.append(rid)
        if added or removed:
            self.emu.lists[lid]["updatedAt"] = stamp
        return {"recordsIdsAdded": added, "recordIdsRemoved": removed, "recordIdsMissing": missing}

    def _ids_body(self, request: Request) -> list[Any] | None:
        body = request.json()
        return body if isinstance(body, list) else None

    def add(self, request: Request) -> Response:
        lid = request.params["listId"]
        ids = self._ids_body(request)
        if ids is None:
            return self.emu.error_response(400, "body must be a JSON array of record ids")
        return self._writable(lid) or Response(200, self._change(lid, ids, []))

    def remove(self, request: Request) -> Response:
        lid = request.params["listId"]
        ids = self._ids_body(request)
        if ids is None:
            return self.emu.error_response(400, "body must be a JSON array of record ids")
        return self._writable(lid) or Response(200, self._change(lid, [], ids))

    def add_and_remove(self, request: Request) -> Response:
        lid, body = request.params["listId"], request.json() or {}
        denied = self._writable(lid)
        if denied is not None:
            return denied
        adds, removes = body.get("recordIdsToAdd") or [], body.get("recordIdsToRemove") or []
        return Response(200, self._change(lid, adds, removes))

    def members_page(self, request: Request) -> Response:
        lid = request.params["listId"]
        if lid not in self.emu.lists:
            return self.emu.error_response(404, f"List {lid} does not exist.")
        limit = int(request.arg("limit", "100") or 100)
        if limit > LIST_MEMBER_PAGE_MAX:
            return self.emu.error_response(400, f"limit must be at most {LIST_MEMBER_PAGE_MAX}")
        ids = sorted(self.emu.members[lid], key=int)
        after = request.arg("after")
        start = int(after) if after else 0
        page = ids[start : start + limit]
        out: dict[str, Any] = {
            "results": [
                {"recordId": r, "membershipTimestamp": self.emu.members[lid][r]} for r in page
            ],
            "total": len(ids),
        }
        if start + limit < len(ids):
            out["paging"] = {"next": {"after": str(start + limit)}}
        return Response(200, out)
