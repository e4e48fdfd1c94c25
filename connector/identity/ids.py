"""Stable profile ids across runs: reuse the id most of a group's identifiers had before.

When groups merge, the surviving id is the one most of their identifiers carried (ties: the
smaller id), and the others are retired with a pointer to it. When a group splits, the part
that keeps most identifiers keeps the id. New ids are keyed hashes of the group's smallest
identifier, salted per workspace so an id never reveals an email.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Protocol

__all__ = ["Taken", "assign_profile_ids", "minted_id"]


class Taken(Protocol):
    """The profile ids a new id must not repeat (a set, or a view of the store's ids)."""

    def __contains__(self, pid: object, /) -> bool: ...

    def add(self, pid: str, /) -> None: ...


def minted_id(salt: str, anchor: str, n: int = 0) -> str:
    """The ``n``-th candidate id of a group anchored at ``anchor``."""
    digest = hashlib.blake2b(f"{salt}\x1f{anchor}\x1f{n}".encode(), digest_size=8).hexdigest()
    return f"p_{digest}"


def _mint(salt: str, anchor: str, used: Taken) -> str:
    n = 0
    while True:
        pid = minted_id(salt, anchor, n)
        if pid not in used:
            used.add(pid)
            return pid
        n += 1


def assign_profile_ids(
    groups: Sequence[tuple[frozenset[str], str]],
    previous: Mapping[str, str],
    *,
    salt: str,
    used: Taken,
) -> tuple[list[str], dict[str, str]]:
    """Return (profile id per group, retired id → surviving id).

    ``groups`` holds each group's identity keys and an anchor (its first record ref) used to
    mint an id when it has no keys; ``previous`` is the persisted key → profile id map.
    """
    candidates: list[tuple[int, str, int]] = []
    for g, (keys, _anchor) in enumerate(groups):
        held = [previous[k] for k in keys if k in previous]
        if held:  # most groups of a first run hold none: no Counter for them
            candidates.extend((-n, pid, g) for pid, n in Counter(held).items())
    candidates.sort()
    assigned: list[str | None] = [None] * len(groups)
    claimed: set[str] = set()
    for _neg, pid, g in candidates:
        if assigned[g] is None and pid not in claimed:
            assigned[g] = pid
            claimed.add(pid)
    retired: dict[str, str] = {}
    out: list[str] = []
    for g, (keys, anchor) in enumerate(groups):
        pid = assigned[g] or _mint(salt, min(keys) if keys else anchor, used)
        out.append(pid)
        for k in keys:
            old = previous.get(k)
            if old and old != pid and old not in claimed:
                retired[old] = pid
    return out, retired
