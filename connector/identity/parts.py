"""Identity resolution in parts: the ordered resolver run on groups of whole components.

Two records join only through an identity key both carry, so the records of one connected
component of the graph (record — key) never join a record outside it. `resolve` run on a subset
made of whole components therefore meets those records in the same relative order (sorted
refs), sees the same first owner of every key, makes the same union and cap decisions (the cap
looks only at the two groups a union would join), keeps the same roots (the smallest ref of each
group) and records the same merges as `resolve` run on everything. So a distributed engine can
resolve each partition of components on its own (`resolve_part`, on an executor) and the driver
can put the parts back together (`assemble`) into exactly the `Resolution` of one ordered pass:
same groups, same refused merges under ``max_ids_per_kind``, same explanations.

The components may be coarser than the resolver's (computed over more keys, say a blocked
value judged joinable): a union of whole components is still a subset that works.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from connector.identity.resolver import IdentityRecord, Merge, Resolution, resolve

__all__ = ["PART_COLUMNS", "PartRow", "assemble", "resolve_part"]

# one row of a part's result: ("member", ref, root ref), ("key", root ref, key) or
# ("merge", record_a, record_b, via, accepted, note)
PART_COLUMNS = ("kind", "a", "b", "via", "accepted", "note")
PartRow = tuple[str, str, str, str | None, bool | None, str | None]


def resolve_part(
    records: Iterable[IdentityRecord],
    *,
    blocked: Iterable[str],
    max_ids_per_kind: int,
    uncapped: frozenset[str],
) -> list[PartRow]:
    """`resolve` over whole components, as rows that name records by ref (not by index)."""
    res = resolve(records, blocked=blocked, max_ids_per_kind=max_ids_per_kind, uncapped=uncapped)
    refs = [r.ref for r in res.records]
    rows: list[PartRow] = [
        ("member", ref, refs[root], None, None, None)
        for ref, root in zip(refs, res.component, strict=True)
    ]
    rows += [
        ("key", refs[root], key, None, None, None) for root, ks in res.keys.items() for key in ks
    ]
    rows += [("merge", m.record_a, m.record_b, m.via, m.accepted, m.note) for m in res.merges]
    return rows


def assemble(records: Sequence[IdentityRecord], rows: Iterable[PartRow]) -> Resolution:
    """The `Resolution` of all `records` from the rows of parts that cover them.

    Merges are put back in the order one pass makes them: by the record met (sorted refs),
    then by the key it joined on (a record's keys are taken in sorted order, each once).
    """
    recs = sorted(records, key=lambda r: r.ref)
    index = {r.ref: i for i, r in enumerate(recs)}
    component = [-1] * len(recs)
    keys: dict[int, set[str]] = {}
    merges: list[Merge] = []
    for kind, a, b, via, accepted, note in rows:
        if kind == "member":
            component[index[a]] = index[b]
        elif kind == "key":
            keys.setdefault(index[a], set()).add(b)
        else:
            merges.append(Merge(a, b, str(via), bool(accepted), note or ""))
    missing = component.count(-1)
    if missing:
        raise RuntimeError(f"identity resolution returned no group for {missing} record(s)")
    merges.sort(key=lambda m: (index[m.record_b], m.via))
    groups = {root: frozenset(keys.get(root, ())) for root in set(component)}
    return Resolution(recs, component, merges, groups)
