"""Deterministic identity resolution: union-find over records that share an identifier.

Nodes are identity records (a source's profile record, or a distinct set of identifiers seen
together on events). Two records join when they share an identity key (``email:...``,
``phone:...``, ``hubspot_id:...``). Guards against over-merging:
- blocked values (shared test addresses, ``null``, ``0000000000``) never join anything;
- a union that would give one profile more than ``max_ids_per_kind`` distinct values of one
  kind (say, six emails) is refused and recorded, not performed. Keys a source itself declared
  one person's (the identifiers of a record it merged into another) join without counting:
  a contact merged five times is still one person, and the cap must not then shut out the
  rest of that person's records.
Records are processed in a fixed order, so the same input always gives the same graph.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

__all__ = ["IdentityRecord", "Merge", "Resolution", "Resolver", "is_blocked", "resolve"]


@dataclass(frozen=True, slots=True)
class IdentityRecord:
    ref: str  # "<source>:<source_id>" or "events:<id_sig>"
    keys: tuple[str, ...]  # "kind:value", normalised


@dataclass(frozen=True, slots=True)
class Merge:
    record_a: str
    record_b: str
    via: str  # the identity key both records carry
    accepted: bool
    note: str = ""


@dataclass(slots=True)
class Resolution:
    """``component`` maps each record index to its root; ``keys`` holds each root's
    identity keys that are not blocked (what the group can be found by)."""

    records: Sequence[IdentityRecord]
    component: list[int]
    merges: list[Merge] = field(default_factory=list)
    keys: dict[int, frozenset[str]] = field(default_factory=dict)

    def groups(self) -> dict[int, list[int]]:
        out: dict[int, list[int]] = {}
        for idx, root in enumerate(self.component):
            out.setdefault(root, []).append(idx)
        return out


class Resolver(Protocol):
    """What computes a `Resolution`: `resolve` itself, or an engine that gives the same one
    (``connector.engine.identity``)."""

    def __call__(
        self,
        records: Iterable[IdentityRecord],
        *,
        blocked: Iterable[str] = (),
        max_ids_per_kind: int = 5,
        uncapped: frozenset[str] = frozenset(),
    ) -> Resolution: ...


def _kind(key: str) -> str:
    return key.split(":", 1)[0]


_NOT_DIGIT_BYTES = bytes(b for b in range(256) if not 0x30 <= b <= 0x39)


def _digits(value: str) -> str:
    """The value's digits (``str.isdigit``); for the usual ASCII value one C-level pass."""
    if value.isascii():
        return value.encode().translate(None, _NOT_DIGIT_BYTES).decode()
    return "".join(c for c in value if c.isdigit())


def is_blocked(key: str, blocked: frozenset[str]) -> bool:
    """A blocked value (or a phone of one repeated digit) never joins two records."""
    value = key.split(":", 1)[1].strip().lower()
    if value in blocked:
        return True
    digits = _digits(value)
    return bool(digits) and len(digits) >= 7 and (digits in blocked or len(set(digits)) == 1)


def resolve(
    records: Iterable[IdentityRecord],
    *,
    blocked: Iterable[str] = (),
    max_ids_per_kind: int = 5,
    uncapped: frozenset[str] = frozenset(),
) -> Resolution:
    recs = sorted(records, key=lambda r: r.ref)
    blocked_set = frozenset(b.strip().lower() for b in blocked)
    parent = list(range(len(recs)))
    # per root: kind -> set of values (to enforce the cap)
    kinds: list[dict[str, set[str]] | None] = [None] * len(recs)
    owner: dict[str, int] = {}
    merges: list[Merge] = []

    def find(i: int) -> int:
        root = i
        while parent[root] != root:
            root = parent[root]
        while parent[i] != root:
            parent[i], i = root, parent[i]
        return root

    judged: dict[str, bool] = {}  # a key is on a profile record and on its events
    for idx, rec in enumerate(recs):
        own: dict[str, set[str]] = {}
        for key in rec.keys:
            off = judged.get(key)
            if off is None:
                off = judged[key] = is_blocked(key, blocked_set)
            if not off:
                own.setdefault(_kind(key), set()).add(key)
        kinds[idx] = own
        for key in sorted({k for vals in own.values() for k in vals}):
            other = owner.get(key)
            if other is None:
                owner[key] = idx
                continue
            ra, rb = find(idx), find(other)
            if ra == rb:
                continue
            ka, kb = kinds[ra] or {}, kinds[rb] or {}
            too_many = [
                k
                for k in sorted(set(ka) | set(kb))  # sorted: the note must not hang on hashing
                if len((ka.get(k, set()) | kb.get(k, set())) - uncapped) > max_ids_per_kind
            ]
            if too_many:
                merges.append(
                    Merge(
                        recs[other].ref,
                        rec.ref,
                        key,
                        False,
                        f"refused: over {max_ids_per_kind} {too_many[0]} values in one profile",
                    )
                )
                continue
            # union by lower index so the oldest record stays the root (deterministic)
            keep, drop = (ra, rb) if ra < rb else (rb, ra)
            parent[drop] = keep
            merged = kinds[keep] or {}
            for k, vals in (kinds[drop] or {}).items():
                merged.setdefault(k, set()).update(vals)
            kinds[keep], kinds[drop] = merged, None
            merges.append(Merge(recs[other].ref, rec.ref, key, True))
    component = [find(i) for i in range(len(recs))]
    keys = {
        root: frozenset(k for vals in (kinds[root] or {}).values() for k in vals)
        for root in set(component)
    }
    return Resolution(recs, component, merges, keys)
