"""Incremental CRM search that gets past HubSpot's 10,000-result cap.

The search API answers 400 when ``after + limit`` passes 10,000 (facts §2.1). We page ascending
by the modified-date property and, before reaching the cap, restart the query from the last value
seen (``GTE``), skipping the ids already yielded at that exact value. If one timestamp alone
holds more records than a window (a bulk import), that value is scanned on its own by
``hs_object_id`` (as Airbyte's HubSpot source does) and the window then continues with ``GT``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from cdp_hubspot.limits import SEARCH_CAP, SEARCH_PAGE_MAX
from connector.sdk import parse_timestamp

__all__ = ["SEARCH_CAP", "Hit", "windowed_search"]

Hit = tuple[str, dict[str, Any]]
Search = Callable[[dict[str, Any]], Any]


def to_ms(value: Any) -> int:
    return int(parse_timestamp(value, field="modified").timestamp() * 1000)


def _pages(search: Search, body: dict[str, Any], page_size: int) -> Iterator[list[Hit]]:
    """Pages of one query until paging ends or the next page would pass the cap."""
    after = 0
    while True:
        page = search({**body, "limit": page_size, "after": str(after)})
        yield [(str(r.id), dict(r.properties or {})) for r in page.results or []]
        nxt = page.paging.next.after if page.paging and page.paging.next else None
        if nxt is None:
            return
        after = int(nxt)
        if after + page_size > SEARCH_CAP:
            yield []  # an empty page tells the caller the window was cut short
            return


def windowed_search(
    search: Search,
    modified: str,
    since_ms: int | None,
    *,
    properties: list[str],
    extra_filters: list[dict[str, Any]],
    page_size: int = SEARCH_PAGE_MAX,
) -> Iterator[list[Hit]]:
    """Pages of hits with ``modified >= since_ms`` in ascending order, each id once per value."""
    props = sorted({*properties, modified, "hs_object_id"})
    lower, op = since_ms, "GTE"
    done_at_lower: set[str] = set()
    while True:
        filters = list(extra_filters)
        if lower is not None:
            filters.append({"propertyName": modified, "operator": op, "value": str(lower)})
        body = {
            "filterGroups": [{"filters": filters}] if filters else [],
            "sorts": [{"propertyName": modified, "direction": "ASCENDING"}],
            "properties": props,
        }
        last: int | None = None
        at_last: set[str] = set()
        cut = False
        for hits in _pages(search, body, page_size):
            if not hits:
                cut = True
                break
            fresh = []
            for rid, p in hits:
                if not p.get(modified):
                    continue
                value = to_ms(p[modified])
                if value == lower and rid in done_at_lower:
                    continue
                if value != last:
                    last, at_last = value, set()
                at_last.add(rid)
                fresh.append((rid, p))
            if fresh:
                yield fresh
        if not cut or last is None:
            return
        if last == lower and op == "GTE":
            # The whole window shares one timestamp: scan that value by id, then move past it.
            yield from _scan_one_value(
                search,
                modified,
                last,
                props=props,
                extra_filters=extra_filters,
                page_size=page_size,
                done=done_at_lower | at_last,
            )
            op, done_at_lower = "GT", set()
            continue
        lower, op = last, "GTE"
        done_at_lower = at_last


def _scan_one_value(
    search: Search,
    modified: str,
    value: int,
    *,
    props: list[str],
    extra_filters: list[dict[str, Any]],
    page_size: int,
    done: set[str],
) -> Iterator[list[Hit]]:
    last_id = 0
    while True:
        filters = [
            *extra_filters,
            {"propertyName": modified, "operator": "EQ", "value": str(value)},
            {"propertyName": "hs_object_id", "operator": "GT", "value": str(last_id)},
        ]
        body = {
            "filterGroups": [{"filters": filters}],
            "sorts": [{"propertyName": "hs_object_id", "direction": "ASCENDING"}],
            "properties": props,
        }
        cut = False
        for hits in _pages(search, body, page_size):
            if not hits:
                cut = True
                break
            fresh = [(rid, p) for rid, p in hits if rid not in done]
            last_id = max(last_id, *(int(rid) for rid, _ in hits))
            if fresh:
                yield fresh
        if not cut:
            return
