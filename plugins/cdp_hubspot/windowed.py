"""Incremental CRM search that cannot skip a record while people edit the portal.

HubSpot's search ``paging.next.after`` is a numeric offset into a result list rebuilt on every
request: when a record already read is edited during a scan sorted by modified date, it moves to
the end and every later row moves up one, so one unread record is skipped for good (its modified
date stays old). We instead freeze the window at the scan's start (``modified <= scan start``)
and page by ``hs_object_id`` ascending with ``hs_object_id GT <last id read>`` (keyset paging, as
airbytehq/airbyte PR 44899 made Airbyte's HubSpot source do): a record edited during the scan
leaves the window (the next run's window catches it, its new date being later than this scan's
start) and the rows left keep their ids, so none is skipped. Each page is a fresh query from
offset 0, so the 10,000-result cap (facts §2.1) is never reached.

HubSpot has been seen answering a page with no results that still carries ``paging.next``
(airbytehq/airbyte PR 80744): we follow that cursor rather than stop, up to the cap.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

from cdp_hubspot.limits import SEARCH_CAP, SEARCH_PAGE_MAX
from connector.sdk import RetryableError, parse_timestamp

__all__ = ["SEARCH_CAP", "Hit", "keyset_search", "now_ms", "to_ms"]

Hit = tuple[str, dict[str, Any]]
Search = Callable[[dict[str, Any]], Any]


def to_ms(value: Any) -> int:
    return int(parse_timestamp(value, field="modified").timestamp() * 1000)


def now_ms() -> int:
    return int(time.time() * 1000)


def _next_after(page: Any) -> str | None:
    paging = getattr(page, "paging", None)
    nxt = getattr(paging, "next", None) if paging else None
    after = getattr(nxt, "after", None) if nxt else None
    return str(after) if after not in (None, "") else None


def keyset_search(
    search: Search,
    modified: str,
    since_ms: int | None,
    upper_ms: int,
    *,
    properties: list[str],
    extra_filters: list[dict[str, Any]],
    page_size: int = SEARCH_PAGE_MAX,
) -> Iterator[list[Hit]]:
    """Pages of hits with ``since_ms <= modified <= upper_ms``, ascending by id, each id once."""
    window = [*extra_filters, {"propertyName": modified, "operator": "LTE", "value": str(upper_ms)}]
    if since_ms is not None:
        window.append({"propertyName": modified, "operator": "GTE", "value": str(since_ms)})
    props = sorted({*properties, modified, "hs_object_id"})
    last_id, after = 0, None
    while True:
        key = {"propertyName": "hs_object_id", "operator": "GT", "value": str(last_id)}
        body: dict[str, Any] = {
            "filterGroups": [{"filters": [*window, key]}],
            "sorts": [{"propertyName": "hs_object_id", "direction": "ASCENDING"}],
            "properties": props,
            "limit": page_size,
        }
        if after is not None:
            body["after"] = after
        page = search(body)
        hits = [(str(r.id), dict(r.properties or {})) for r in page.results or []]
        nxt = _next_after(page)
        if hits:
            yield hits
            last_id, after = max(last_id, *(int(rid) for rid, _ in hits)), None
        elif nxt is not None:
            # An empty page that still says "more": its rows no longer hydrate (archived since
            # the index was built); follow the cursor past them.
            if int(nxt) + page_size > SEARCH_CAP:
                raise RetryableError(
                    f"HubSpot search kept answering empty pages up to the {SEARCH_CAP} cap"
                )
            after = nxt
            continue
        if nxt is None:
            return
