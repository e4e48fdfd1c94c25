"""List routes of the Klaviyo emulator: find, create, add and remove members (the sink's calls).

Lists are unique by id, not name; create answers 201; add/remove take at most
``LIST_MEMBERS_PER_CALL`` profiles and answer 204; an unknown list is 404 and an unknown profile
400 with a pointer at the item (shared/facts/hubspot-klaviyo.md section 6). The time a profile
joins is kept, as ``get_profiles_for_list`` sorts by ``joined_group_at``.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from cdp_klaviyo.emulator.jsonapi import (
    FilterError,
    decode_cursor,
    encode_cursor,
    page_links,
    parse_filter,
)
from cdp_klaviyo.emulator.reads import ok as _ok
from cdp_klaviyo.emulator.resources import list_resource
from cdp_klaviyo.emulator.store import make_id
from cdp_klaviyo.limits import LIST_MEMBERS_PER_CALL
from connector.sdk import Request, Response

if TYPE_CHECKING:
    from cdp_klaviyo.emulator.store import KlaviyoStore

__all__ = ["ListRoutes"]


class ListRoutes:
    """Mixin of ``KlaviyoEmulator``: the list handlers."""

    if TYPE_CHECKING:
        store: KlaviyoStore

        def page_size(self, request: Request, kind: str, default: int) -> int: ...

        def error_response(self, status: int, message: str, **extra: Any) -> Response: ...

        def _bad(self, exc: FilterError) -> Response: ...

    def _get_lists(self, request: Request) -> Response:
        try:
            size = self.page_size(request, "lists", 10)
            terms = parse_filter(request.arg("filter"))
            cursor = request.arg("page[cursor]")
            after = decode_cursor(cursor, "id")[1] if cursor else ""
        except FilterError as exc:
            return self._bad(exc)
        lists = sorted(self.store.lists.values(), key=lambda x: x["id"])
        for term in terms:
            if term.field not in ("name", "id") or term.op not in ("equals", "any"):
                return self._bad(FilterError(f"Unsupported filter {term.op}({term.field})"))
            values = term.value if term.op == "any" else [term.value]
            lists = [x for x in lists if x[term.field] in values]
        lists = [x for x in lists if x["id"] > after]
        page = lists[:size]
        nxt = encode_cursor("id", ("", page[-1]["id"])) if len(lists) > size else None
        data = [list_resource(x) for x in page]
        return _ok({"data": data, "links": page_links("/api/lists", request.query, nxt)})

    def _create_list(self, request: Request) -> Response:
        data = (request.json() or {}).get("data") or {}
        name = (data.get("attributes") or {}).get("name")
        if data.get("type") != "list" or not isinstance(name, str) or not name.strip():
            return self.error_response(400, "A list needs a name.", pointer="/data/attributes/name")
        now = time.time()
        lst: dict[str, Any] = {
            "id": make_id(now, self.store.next_n(), 6),
            "name": name,
            "created": now,
            "updated": now,
            "opt_in_process": (data.get("attributes") or {}).get("opt_in_process")
            or "single_opt_in",
            "members": set(),
        }
        self.store.lists[lst["id"]] = lst
        resource = list_resource(lst)
        return _ok({"data": resource, "links": resource["links"]}, 201)

    def _members(
        self, request: Request
    ) -> tuple[dict[str, Any] | None, list[str], Response | None]:
        lst = self.store.lists.get(request.params["list_id"])
        if lst is None:
            return None, [], self.error_response(404, "List not found.")
        items = (request.json() or {}).get("data")
        if not isinstance(items, list) or not items:
            return (
                None,
                [],
                self.error_response(400, "data must be a list of profiles.", pointer="/data"),
            )
        if len(items) > LIST_MEMBERS_PER_CALL:
            detail = f"At most {LIST_MEMBERS_PER_CALL} profiles per request."
            return None, [], self.error_response(400, detail, pointer="/data")
        ids: list[str] = []
        for i, item in enumerate(items):
            pid = item.get("id") if isinstance(item, dict) else None
            if (
                not isinstance(item, dict)
                or item.get("type") != "profile"
                or pid not in self.store.profiles
            ):
                detail = f"Profile {str(pid)[:40]} does not exist."
                return None, [], self.error_response(400, detail, pointer=f"/data/{i}/id")
            ids.append(str(pid))
        return lst, ids, None

    def _add_members(self, request: Request) -> Response:
        lst, ids, error = self._members(request)
        if error is not None or lst is None:
            return error or self.error_response(400, "bad request")
        now = time.time()
        joined = lst.setdefault("joined", {})
        for pid in ids:
            if pid not in lst["members"]:
                joined[pid] = now
        lst["members"].update(ids)
        lst["updated"] = now
        return Response(204)

    def _remove_members(self, request: Request) -> Response:
        lst, ids, error = self._members(request)
        if error is not None or lst is None:
            return error or self.error_response(400, "bad request")
        lst["members"].difference_update(ids)
        lst["updated"] = time.time()
        return Response(204)
