"""Lists for segments and their membership, by Klaviyo profile id.

A list is found by name before one is created: creation is capped at 150 per day per account
(facts 3.2), and a re-run must never make a duplicate. The list id is remembered in the
plugin's state. Membership calls carry at most 1,000 profile ids and answer 204; a refused
call goes through the shared bisection: a 400 that names one profile (``/data/{i}/id``)
isolates it and the rest are sent again, one that names none is halved.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from functools import partial

from cdp_klaviyo.client import KlaviyoClient, KlaviyoRequestError, pointed_item, refusal
from cdp_klaviyo.limits import LIST_MEMBERS_PER_CALL
from connector.sdk import KeyValueState, SegmentRef, SkippableError, bisect

__all__ = ["ListManager", "MembershipResult", "profile_gone"]

_POINTER = re.compile(r"^/data/(\d+)/id")
MembershipResult = tuple[dict[int, str], dict[int, str]]  # (rejected, retryable) by input index


class ListManager:
    def __init__(self, client: KlaviyoClient, state: KeyValueState, prefix: str) -> None:
        self.client = client
        self.state = state
        self.prefix = prefix
        self.created = 0

    def list_name(self, segment: SegmentRef) -> str:
        return f"{self.prefix}{segment.name}"

    def ensure(self, segment: SegmentRef, *, refresh: bool = False) -> str:
        key = f"list:{segment.id}"
        known = self.state.get(key)
        if known and not refresh:
            return known
        name = self.list_name(segment)
        doc = self.client.call(
            "lists_read",
            partial(self.client.api.Lists.get_lists, filter=f"equals(name,{json.dumps(name)})"),
        )
        found = [d["id"] for d in doc.get("data") or [] if d["attributes"].get("name") == name]
        if found:
            list_id = str(sorted(found)[0])
        else:
            body = {"data": {"type": "list", "attributes": {"name": name}}}
            created = self.client.call(
                "list_create", partial(self.client.api.Lists.create_list, body)
            )
            list_id = str(created["data"]["id"])
            self.created += 1
        self.state.put(key, list_id)
        return list_id

    def change(self, list_id: str, kind: str, profile_ids: Sequence[str]) -> MembershipResult:
        """Add or remove ``profile_ids``; per input index, what was rejected or given up on.

        A refusal of the list itself (404) is raised: the caller re-finds the list."""
        rejected: dict[int, str] = {}
        retryable: dict[int, str] = {}
        lists = self.client.api.Lists
        fn = lists.add_profiles_to_list if kind == "add" else lists.remove_profiles_from_list

        def send(ids: Sequence[str]) -> None:
            body = {"data": [{"type": "profile", "id": i} for i in ids]}
            self.client.call("list_members", partial(fn, list_id, body))

        for start in range(0, len(profile_ids), LIST_MEMBERS_PER_CALL):
            chunk = profile_ids[start : start + LIST_MEMBERS_PER_CALL]
            done = bisect(chunk, send, locate=pointed_item(_POINTER), propagate=_list_gone)
            rejected.update({start + i: refusal(exc) for i, exc in done.rejected.items()})
            retryable.update({start + i: str(exc) for i, exc in done.retryable.items()})
        return rejected, retryable


def profile_gone(reason: str) -> bool:
    """Klaviyo refused a profile id because the profile no longer exists (deleted or merged
    away since we learned its id): for a removal, the goal is reached."""
    return "does not exist" in reason or reason.startswith("not_found")


def _list_gone(exc: SkippableError) -> bool:
    return isinstance(exc, KlaviyoRequestError) and exc.status == 404
