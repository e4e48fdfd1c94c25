"""CRM objects (contacts, deals) with HubSpot's search semantics.

Search sees the *indexed* version of each record: a write becomes visible only ``index_delay``
seconds later ("it may take a few moments for newly created or updated CRM objects to appear in
search results", HubSpot search guide); until then search returns the previous version, or
nothing for a new record. Reads by id always see the latest version.

Search pages by a numeric offset (``paging.next.after`` is the next row's position, facts
"December 2026 updates", airbytehq/airbyte PR 44899): the row list is rebuilt on every request,
so an edit that moves or drops an already-read row shifts every later row. An archived record
stays in the index until the delay passed: it is counted in the offsets but no longer hydrates,
so a page can come back short or empty while still carrying ``next`` (airbytehq/airbyte PR 80744,
"continue CRM search pagination on short pages").
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from cdp_hubspot.emulator.schema import default_properties
from cdp_hubspot.emulator.values import iso_ms, parse_instant_ms, sort_key
from cdp_hubspot.limits import SEARCH_CAP, SEARCH_PAGE_MAX

__all__ = ["CrmObject", "ObjectStore", "SearchError"]

_OPERATORS = {
    "EQ", "NEQ", "LT", "LTE", "GT", "GTE", "BETWEEN", "IN", "NOT_IN",
    "HAS_PROPERTY", "NOT_HAS_PROPERTY", "CONTAINS_TOKEN", "NOT_CONTAINS_TOKEN",
}  # fmt: skip


class SearchError(ValueError):
    """A search request HubSpot answers with 400 VALIDATION_ERROR."""


@dataclass(slots=True)
class CrmObject:
    id: str
    props: dict[str, str]
    created_ms: int
    updated_ms: int
    visible_at: float = 0.0  # monotonic time from which search sees this version
    previous: dict[str, str] | None = None  # what search sees until then
    associations: dict[str, list[str]] = field(default_factory=dict)
    archived_ms: int = 0  # when it was archived (deleted); 0 while it is live

    def to_json(self, properties: list[str] | None) -> dict[str, Any]:
        props = self.props if properties is None else {p: self.props.get(p) for p in properties}
        out: dict[str, Any] = {
            "id": self.id,
            "properties": props,
            "createdAt": iso_ms(self.created_ms),
            "updatedAt": iso_ms(self.updated_ms),
            "archived": bool(self.archived_ms),
        }
        if self.archived_ms:
            out["archivedAt"] = iso_ms(self.archived_ms)
        return out


class ObjectStore:
    """One object type: records by id, property definitions, and the search index."""

    def __init__(self, object_type: str, modified_prop: str, *, first_id: int) -> None:
        self.object_type = object_type
        self.modified_prop = modified_prop
        self.records: dict[str, CrmObject] = {}
        self.properties: dict[str, dict[str, Any]] = default_properties(object_type)
        self.next_id = first_id
        self.index_delay = 0.0
        self._version = 0
        self.by_email: dict[str, str] = {}
        # addresses HubSpot refuses as invalid although they pass RFC syntax (admin seed
        # ``invalid_emails``): HubSpot's own email rules are stricter than the RFCs
        self.invalid_emails: set[str] = set()
        self._sorted_cache: dict[tuple[Any, ...], list[str]] = {}
        # archived records (listed with archived=true), search rows of archived records the index
        # has not dropped yet (props, monotonic time they leave the index), merged-away ids
        self.archived: dict[str, CrmObject] = {}
        self.ghosts: dict[str, tuple[dict[str, str], float]] = {}
        self.merged_into: dict[str, str] = {}
        # called with each new version before it is stored (deals derive hs_is_closed_won)
        self.derive: Callable[[CrmObject, CrmObject | None], None] | None = None

    def new_id(self) -> str:
        self.next_id += 1
        return str(self.next_id)

    def put(self, record: CrmObject, *, indexed_now: bool = False) -> None:
        """Store a new version; search keeps the old one until the index delay passed."""
        old = self.records.get(record.id)
        now = time.monotonic()
        if old is not None and record is old:
            raise ValueError("put() needs a new version, not the stored object")
        if self.derive is not None:
            self.derive(record, old)
        if indexed_now or self.index_delay <= 0:
            record.visible_at, record.previous = 0.0, None
        else:
            record.visible_at = now + self.index_delay
            if old is not None:
                record.previous = old.previous if old.visible_at > now else dict(old.props)
        self.records[record.id] = record
        old_email = (old.props.get("email") or "").lower() if old is not None else ""
        email = (record.props.get("email") or "").lower()
        if old_email and old_email != email and self.by_email.get(old_email) == record.id:
            del self.by_email[old_email]
        if email:
            self.by_email[email] = record.id
        self._version += 1
        self._sorted_cache.clear()

    def remove(self, rid: str) -> CrmObject:
        """Take a record out of the live set (archive or merge); search keeps its row a while."""
        record = self.records.pop(rid)
        now = time.monotonic()
        indexed = self._indexed(record, now)
        if indexed is not None and self.index_delay > 0:
            self.ghosts[rid] = (indexed, now + self.index_delay)
        email = (record.props.get("email") or "").lower()
        if email and self.by_email.get(email) == rid:
            del self.by_email[email]
        self._version += 1
        self._sorted_cache.clear()
        return record

    def touch(self, record: CrmObject, props: dict[str, str], ms: int) -> CrmObject:
        merged = {**record.props, **props, self.modified_prop: iso_ms(ms)}
        new = CrmObject(record.id, merged, record.created_ms, ms, associations=record.associations)
        self.put(new)
        return new

    # ---- search ---------------------------------------------------------------------------
    def _indexed(self, record: CrmObject, now: float) -> dict[str, str] | None:
        if record.visible_at <= now:
            return record.props
        return record.previous

    def search(self, body: dict[str, Any]) -> dict[str, Any]:
        limit = int(body.get("limit") or 10)
        after = int(body.get("after") or 0)
        if limit > SEARCH_PAGE_MAX:
            raise SearchError(f"limit must be no greater than {SEARCH_PAGE_MAX}")
        if after + limit > SEARCH_CAP:
            # Real message from the search API when paging past the cap.
            raise SearchError(
                "There was a problem with the request. Requests for results above "
                f"{SEARCH_CAP} are not supported."
            )
        groups = body.get("filterGroups") or []
        if len(groups) > 5 or sum(len(g.get("filters") or []) for g in groups) > 25:
            raise SearchError("too many filters: at most 5 filterGroups and 25 filters")
        now = time.monotonic()
        self.ghosts = {r: g for r, g in self.ghosts.items() if g[1] > now}
        matched: list[tuple[str, dict[str, str]]] = []
        for rid in self._order(body.get("sorts") or []):
            props = self._row(rid, now)
            if props is not None and self._matches(props, groups):
                matched.append((rid, props))
        wanted = body.get("properties") or self._default_search_properties()
        page = matched[after : after + limit]
        out: dict[str, Any] = {
            "total": len(matched),
            # an archived record's row no longer hydrates: the page comes back short
            "results": [
                self._search_hit(rid, props, wanted) for rid, props in page if rid in self.records
            ],
        }
        if after + limit < len(matched):
            nxt = str(after + limit)
            out["paging"] = {"next": {"after": nxt, "link": f"?after={nxt}"}}
        return out

    def _row(self, rid: str, now: float) -> dict[str, str] | None:
        record = self.records.get(rid)
        if record is not None:
            return self._indexed(record, now)
        ghost = self.ghosts.get(rid)
        return ghost[0] if ghost is not None else None

    def _search_hit(self, rid: str, props: dict[str, str], wanted: list[str]) -> dict[str, Any]:
        record = self.records[rid]
        return {
            "id": rid,
            "properties": {p: props.get(p) for p in wanted},
            "createdAt": iso_ms(record.created_ms),
            "updatedAt": props.get(self.modified_prop) or iso_ms(record.updated_ms),
            "archived": False,
        }

    def _default_search_properties(self) -> list[str]:
        if self.object_type == "contacts":
            return [
                "createdate",
                "email",
                "firstname",
                "hs_object_id",
                "lastmodifieddate",
                "lastname",
            ]
        return ["createdate", "hs_lastmodifieddate", "hs_object_id"]

    def _order(self, sorts: list[Any]) -> list[str]:
        """Record ids in sort order; sorts come as dicts or as ``"-prop"`` strings."""
        keys: list[tuple[str, bool]] = []
        for s in sorts:
            if isinstance(s, str):
                keys.append((s.lstrip("-+"), s.startswith("-")))
            elif isinstance(s, dict) and s.get("propertyName"):
                keys.append((str(s["propertyName"]), s.get("direction") == "DESCENDING"))
            else:
                raise SearchError(f"invalid sort: {s!r}")
        if not keys:
            keys = [("hs_object_id", False)]
        cache_key = tuple(keys)
        cached = self._sorted_cache.get(cache_key)
        if cached is not None:
            return cached
        now = time.monotonic()
        ids = sorted({*self.records, *self.ghosts}, key=int)
        for name, desc in reversed(keys):
            prop = self.properties.get(name)

            def key(rid: str, name: str = name, prop: Any = prop) -> tuple[int, Any]:
                if name == "hs_object_id":
                    return (0, int(rid))
                props = self._row(rid, now) or {}
                return sort_key(prop, props.get(name))

            ids.sort(key=key, reverse=desc)
        if self.index_delay <= 0 and not self.ghosts:
            self._sorted_cache[cache_key] = ids
        return ids

    def _matches(self, props: dict[str, str], groups: list[dict[str, Any]]) -> bool:
        if not groups:
            return True
        return any(all(self._test(props, f) for f in g.get("filters") or []) for g in groups)

    def _test(self, props: dict[str, str], flt: dict[str, Any]) -> bool:
        name = str(flt.get("propertyName") or "")
        op = str(flt.get("operator") or "EQ")
        if op not in _OPERATORS:
            raise SearchError(f"operator {op} is not one of {sorted(_OPERATORS)}")
        prop = self.properties.get(name)
        value = props.get(name)
        present = value not in (None, "")
        if op == "HAS_PROPERTY":
            return present
        if op == "NOT_HAS_PROPERTY":
            return not present
        if op in ("CONTAINS_TOKEN", "NOT_CONTAINS_TOKEN"):
            token = str(flt.get("value") or "").lower().strip("*")
            hit = present and token in str(value).lower()
            return hit if op == "CONTAINS_TOKEN" else not hit
        if op in ("IN", "NOT_IN"):
            options = {self._filter_key(prop, v) for v in flt.get("values") or []}
            hit = present and sort_key(prop, value) in options
            return hit if op == "IN" else not hit
        have = sort_key(prop, value)
        want = self._filter_key(prop, flt.get("value"))
        if op == "NEQ":
            return have != want
        if not present:
            return False
        if op == "BETWEEN":
            return want <= have <= self._filter_key(prop, flt.get("highValue"))
        return {
            "EQ": have == want,
            "LT": have < want,
            "LTE": have <= want,
            "GT": have > want,
            "GTE": have >= want,
        }[op]

    @staticmethod
    def _filter_key(prop: dict[str, Any] | None, raw: Any) -> tuple[int, Any]:
        if prop is not None and prop["type"] in ("datetime", "date"):
            ms = parse_instant_ms(raw)
            if ms is None:
                raise SearchError(f"{raw!r} is not a valid date value for {prop['name']}")
            return (0, ms)
        return sort_key(prop, None if raw is None else str(raw))
