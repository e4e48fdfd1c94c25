"""Which consent statement prevails when several speak for one person and channel.

A statement is ``granted`` or ``denied`` with an optional timestamp; ``unknown`` (or nothing) is
the absence of one. The rule, per channel, strongest first:

1. an undated denial: it always stands, over any grant, dated or not (we cannot tell it was
   superseded, and a "no" must never be lost to a missing timestamp);
2. the latest dated statement; at the same instant a denial beats a grant;
3. an undated grant, only when nobody dated anything and nobody denied.

A new version of one source record that repeats its stored grant, dated only by the record's
own update time (the source gives no consent time), is not a new statement: it keeps the stored
date (``restated``). Otherwise an edit to a name would re-date an old grant and let it beat a
later opt-out elsewhere. A repeated denial is re-dated: a "no" errs towards the newer date.

The rule is a total order (``rank``), so folding statements one by one (a source record's new
version over its stored one, profile records into a profile) gives the same answer in any order
and incremental runs agree with a full rebuild. The data store and unify apply it in SQL
(``RANK_SQL``); ``prevailing`` is the same rule in Python for tests and explanations.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

__all__ = ["EXPLICIT", "beats_sql", "prevailing", "rank", "rank_sql", "restated", "restated_sql"]

EXPLICIT = ("granted", "denied")

Rank = tuple[int, datetime | None, int]


def rank(status: str | None, at: datetime | None) -> Rank:
    """Sort key of one statement: higher prevails (see the module docstring)."""
    status = (status or "").strip().lower()
    if status not in EXPLICIT:
        return (0, None, 0)
    denied = int(status == "denied")
    if at is None:
        return (3 if denied else 1, None, denied)
    return (2, at.replace(tzinfo=None), denied)


def prevailing(statements: Iterable[tuple[str | None, datetime | None]]) -> str:
    """The status that prevails among ``statements``: granted, denied or unknown."""
    best: tuple[Rank, str] | None = None
    for status, at in statements:
        key = rank(status, at)
        if key[0] and (best is None or _greater(key, best[0])):
            best = (key, (status or "").strip().lower())
    return best[1] if best else "unknown"


def _greater(a: Rank, b: Rank) -> bool:
    if a[0] != b[0] or a[0] != 2:
        return a[0] > b[0]
    return (a[1], a[2]) > (b[1], b[2])  # type: ignore[operator]  # level 2 is always dated


def restated(
    new_status: str | None,
    new_at: datetime | None,
    new_updated_at: datetime | None,
    old_status: str | None,
    old_at: datetime | None,
) -> bool:
    """True when a record's new version only repeats its stored, dated grant, dated by the
    version's ``updated_at`` (the fallback when the source gives no consent time). The stored
    date then stands. A repeated denial is re-dated as before: it may be a new "no" (HubSpot
    says only no, and a re-subscribe in between reads as no statement), and a "no" must never
    lose to an older date."""
    status = (new_status or "").strip().lower()
    return (
        status == "granted"
        and status == (old_status or "").strip().lower()
        and old_at is not None
        and new_at is not None
        and new_at == new_updated_at
    )


def restated_sql(
    new_status: str, new_at: str, new_updated_at: str, old_status: str, old_at: str
) -> str:
    """``restated`` as DuckDB SQL (never NULL)."""
    return (
        f"coalesce({new_status} = 'granted' AND {old_status} = 'granted'"
        f" AND {old_at} IS NOT NULL AND {new_at} = {new_updated_at}, false)"
    )


def rank_sql(status: str, at: str) -> str:
    """``rank`` as a DuckDB struct expression (structs compare field by field)."""
    explicit = f"{status} IN ('granted', 'denied')"
    return (
        "{'level': CASE"
        f" WHEN {status} = 'denied' AND {at} IS NULL THEN 3"
        f" WHEN {explicit} AND {at} IS NOT NULL THEN 2"
        f" WHEN {status} = 'granted' THEN 1 ELSE 0 END,"
        f" 'at': CASE WHEN {explicit} THEN {at} END,"
        f" 'denied': CASE WHEN {status} = 'denied' THEN 1 ELSE 0 END}}"
    )


def beats_sql(new_status: str, new_at: str, old_status: str, old_at: str) -> str:
    """SQL that is true when the new statement should replace the stored one.

    Ties keep nothing worse: a new statement equal in rank replaces the old (same status and
    time, or both "no statement"), so a first ``unknown`` is still recorded as such.
    """
    return f"{rank_sql(new_status, new_at)} >= {rank_sql(old_status, old_at)}"
