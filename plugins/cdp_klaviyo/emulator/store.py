"""The Klaviyo emulator's state: profiles, events, metrics, lists and bulk import jobs.

Plain dicts guarded by the server lock. Sorted indexes are rebuilt lazily after writes, so a
30,000-profile, 300,000-event account pages in keyset order without re-sorting per request.
"""

from __future__ import annotations

import bisect
import itertools
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from cdp_klaviyo.emulator.jsonapi import FilterError, Term, parse_time

__all__ = ["SUPPRESSED_AT", "KlaviyoStore", "Query", "make_id"]

# a profile's newest global e-mail suppression time (emulator/consent.py), a sort and filter key
SUPPRESSED_AT = "suppressed_at"

_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford base32, as Klaviyo's ULID ids


def make_id(ts: float, n: int, width: int = 26) -> str:
    """A ULID-shaped id: time-ordered, unique per counter ``n``."""
    value = (int(ts * 1000) << 40) | (n & ((1 << 40) - 1))
    chars = []
    for _ in range(width):
        chars.append(_ALPHABET[value & 31])
        value >>= 5
    return "".join(reversed(chars))


PROFILE_IDENT_FIELDS = ("id", "email", "phone_number", "external_id")


@dataclass(slots=True)
class Query:
    """A resolved list request: predicates, an optional indexed range and the keyset sort."""

    sort_field: str
    descending: bool
    predicates: list[Callable[[dict[str, Any]], bool]] = field(default_factory=list)
    candidates: set[str] | None = None  # from identifier equals/any filters
    lower: tuple[float, bool] | None = None  # (value, inclusive) on the sort field


class KlaviyoStore:
    def __init__(self) -> None:
        self.profiles: dict[str, dict[str, Any]] = {}
        self.events: dict[str, dict[str, Any]] = {}
        self.metrics: dict[str, dict[str, Any]] = {}
        self.lists: dict[str, dict[str, Any]] = {}
        self.jobs: dict[str, dict[str, Any]] = {}
        self.by_ident: dict[str, dict[str, str]] = {f: {} for f in PROFILE_IDENT_FIELDS[1:]}
        self.refused_emails: set[str] = set()  # the import refuses these (a test hook)
        self.event_keys: set[tuple[str, str, str]] = set()  # (profile, metric, unique_id)
        self.merged: dict[str, str] = {}  # merged-away profile id → the profile it went into
        self.deletion_jobs: list[dict[str, Any]] = []  # data privacy deletion jobs received
        self._counter = itertools.count(1)
        self._profile_index: dict[str, list[tuple[Any, str]]] = {}
        self._event_index: dict[str | None, list[tuple[float, str]]] = {}

    def next_n(self) -> int:
        return next(self._counter)

    # ---- profiles -------------------------------------------------------------------------
    def put_profile(self, profile: dict[str, Any]) -> None:
        old = self.profiles.get(profile["id"])
        for f, index in self.by_ident.items():
            if old and old.get(f):
                index.pop(old[f], None)
            if profile.get(f):
                index[profile[f]] = profile["id"]
        self.profiles[profile["id"]] = profile
        self._profile_index.clear()

    def delete_profile(self, pid: str, *, keep_events: bool = False) -> int:
        """Remove a profile, its identifiers, list memberships and (unless kept) its events."""
        old = self.profiles.pop(pid, None)
        if old is None:
            return 0
        for f, index in self.by_ident.items():
            if old.get(f) and index.get(old[f]) == pid:
                del index[old[f]]
        for lst in self.lists.values():
            lst["members"].discard(pid)
        if not keep_events:
            for eid in [e for e, ev in self.events.items() if ev["profile_id"] == pid]:
                del self.events[eid]
            self._event_index.clear()
        self._profile_index.clear()
        return 1

    def find_profile(self, attrs: dict[str, Any]) -> str | None:
        if attrs.get("id") and attrs["id"] in self.profiles:
            return str(attrs["id"])
        for f in ("email", "phone_number", "external_id"):
            value = attrs.get(f)
            if value and value in self.by_ident[f]:
                return self.by_ident[f][value]
        return None

    def _sorted_profiles(self, sort_field: str) -> list[tuple[Any, str]]:
        if sort_field not in self._profile_index:
            self._profile_index[sort_field] = sorted(
                (_sort_value(p, sort_field), pid) for pid, p in self.profiles.items()
            )
        return self._profile_index[sort_field]

    def profile_query(self, terms: list[Term], sort: str | None) -> Query:
        sort = sort or "id"
        field_name = _SORT_KEYS.get(sort.lstrip("-"), "")
        if not field_name:
            raise FilterError(f"Invalid sort field {sort!r}", "sort")
        query = Query(field_name, sort.startswith("-"))
        for term in terms:
            if term.field in PROFILE_IDENT_FIELDS and term.op in ("equals", "any"):
                values = term.value if term.op == "any" else [term.value]
                if not isinstance(values, list):
                    raise FilterError("any() expects a list", "filter")
                if len(values) > 100:
                    raise FilterError("any() accepts at most 100 values", "filter")
                ids = {i for v in values if (i := self.find_profile({term.field: v}))}
                query.candidates = ids if query.candidates is None else query.candidates & ids
            elif term.field in ("updated", "created") and term.op in ("greater-than", "less-than"):
                bound = parse_time(term.value)
                query.predicates.append(_compare(term.field, term.op, bound))
                if term.field == field_name and term.op == "greater-than" and not query.descending:
                    query.lower = (bound, False)
            elif term.field == SUPPRESSION and term.op in _ORDERED:
                bound = parse_time(term.value)
                query.predicates.append(_compare(SUPPRESSED_AT, term.op, bound))
            else:
                raise FilterError(f"Unsupported filter {term.op}({term.field}) for profiles")
        return query

    def page_profiles(
        self, query: Query, after: tuple[Any, str] | None, size: int
    ) -> tuple[list[dict[str, Any]], tuple[Any, str] | None]:
        if query.candidates is not None:
            keys = sorted(
                (_sort_value(self.profiles[i], query.sort_field), i) for i in query.candidates
            )
        else:
            keys = self._sorted_profiles(query.sort_field)
        return _page(keys, self.profiles, query, after, size)

    # ---- events ---------------------------------------------------------------------------
    def add_events(self, events: Iterable[dict[str, Any]]) -> int:
        n = 0
        for event in events:
            self.events[event["id"]] = event
            n += 1
        self._event_index.clear()
        return n

    def _sorted_events(self, metric_id: str | None) -> list[tuple[float, str]]:
        if metric_id not in self._event_index:
            self._event_index[metric_id] = sorted(
                (e["timestamp"], eid)
                for eid, e in self.events.items()
                if metric_id is None or e["metric_id"] == metric_id
            )
        return self._event_index[metric_id]

    def event_query(self, terms: list[Term], sort: str | None) -> tuple[Query, str | None]:
        sort = sort or "datetime"
        if sort.lstrip("-") not in ("datetime", "timestamp"):
            raise FilterError(f"Invalid sort field {sort!r}", "sort")
        query = Query("timestamp", sort.startswith("-"))
        metric_id: str | None = None
        for term in terms:
            if term.field == "metric_id" and term.op == "equals":
                metric_id = str(term.value)
            elif term.field == "profile_id" and term.op == "equals":
                query.predicates.append(_equals("profile_id", str(term.value)))
            elif term.field in ("datetime", "timestamp") and term.op in _OPS:
                bound = parse_time(term.value) if term.field == "datetime" else _epoch(term.value)
                query.predicates.append(_compare("timestamp", term.op, bound))
                if term.op in ("greater-than", "greater-or-equal") and not query.descending:
                    query.lower = (bound, term.op == "greater-or-equal")
            else:
                raise FilterError(f"Unsupported filter {term.op}({term.field}) for events")
        return query, metric_id

    def page_events(
        self, query: Query, metric_id: str | None, after: tuple[Any, str] | None, size: int
    ) -> tuple[list[dict[str, Any]], tuple[Any, str] | None]:
        return _page(self._sorted_events(metric_id), self.events, query, after, size)


_OPS = ("greater-than", "greater-or-equal", "less-than", "less-or-equal")


def _epoch(value: object) -> float:
    try:
        return float(str(value))
    except (TypeError, ValueError):
        raise FilterError(f"Invalid timestamp value: {value!r}") from None


def _equals(field_name: str, value: str) -> Callable[[dict[str, Any]], bool]:
    return lambda record: bool(record.get(field_name) == value)


# get_profiles sorts and filters on the newest global e-mail suppression's time as well
SUPPRESSION = "subscriptions.email.marketing.suppression.timestamp"
_SORT_KEYS = {k: k for k in ("id", "created", "updated", "email")} | {SUPPRESSION: SUPPRESSED_AT}
_ORDERED = ("greater-than", "greater-or-equal", "less-than", "less-or-equal")


def _sort_value(record: dict[str, Any], field_name: str) -> Any:
    """A record's key in a sort: a profile never suppressed sorts first (no time), never
    against a string; other missing values as the empty string."""
    value = record.get(field_name)
    if value is not None:
        return value
    return float("-inf") if field_name == SUPPRESSED_AT else ""


def _compare(field_name: str, op: str, bound: float) -> Callable[[dict[str, Any]], bool]:
    def check(record: dict[str, Any]) -> bool:
        value = record.get(field_name)
        if value is None:
            return False
        if op == "greater-than":
            return bool(value > bound)
        if op == "greater-or-equal":
            return bool(value >= bound)
        if op == "less-than":
            return bool(value < bound)
        return bool(value <= bound)

    return check


def _page(
    keys: list[tuple[Any, str]],
    records: dict[str, dict[str, Any]],
    query: Query,
    after: tuple[Any, str] | None,
    size: int,
) -> tuple[list[dict[str, Any]], tuple[Any, str] | None]:
    """One keyset page over ``keys`` (ascending); the next cursor key, or None at the end."""
    order: Iterable[tuple[Any, str]]
    if query.descending:
        stop = len(keys) if after is None else bisect.bisect_left(keys, tuple(after))
        order = reversed(keys[:stop])
    else:
        start = 0
        if query.lower is not None:
            value, inclusive = query.lower
            probe = (value, "") if inclusive else (value, "\uffff")
            start = bisect.bisect_left(keys, probe)
        if after is not None:
            start = max(start, bisect.bisect_right(keys, tuple(after)))
        order = itertools.islice(keys, start, None)
    page: list[dict[str, Any]] = []
    last: tuple[Any, str] | None = None
    for key in order:
        record = records[key[1]]
        if all(p(record) for p in query.predicates):
            if len(page) == size:
                return page, last
            page.append(record)
            last = key
    return page, None
