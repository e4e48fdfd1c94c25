"""Resolution in parts (what Spark runs per partition) equals one ordered pass over everything.

The parts are unions of whole connected components, computed here over every key (blocked ones
included, so coarser than the resolver's groups, as the engine's may be) or over the joinable
keys only; the parts are resolved separately and assembled. Groups, roots, identifiers, the
merges refused by the per-kind cap and the order of every merge must equal `resolve`'s.
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from connector.config.models import EngineSettings
from connector.engine import identity_resolver
from connector.engine.identity import SparkResolver
from connector.identity.parts import assemble, resolve_part
from connector.identity.resolver import IdentityRecord, Resolution, is_blocked, resolve
from connector.identity.unify import UnifyResult
from connector.testing import identity_data

BLOCKED = ("test@test.com", " NULL ", "0000000000")
KEYS = [
    *(f"email:{c}@x.org" for c in "abcdefgh"),
    "email:test@test.com",
    "email:null",
    "email:\ttest@test.com",
    "email:é@x.org",
    "phone:07400111111",
    "phone:07400222222",
    "phone:07400333333",
    "phone:0000000000",
    "phone:1111111",
    "crm_id:c1",
    "crm_id:c2",
]


def _components(records: list[IdentityRecord], *, every_key: bool) -> list[list[IdentityRecord]]:
    """Connected components of (record, key), by a plain union-find in any order."""
    parent = list(range(len(records)))

    def find(i: int) -> int:
        while parent[i] != i:
            i = parent[i]
        return i

    owner: dict[str, int] = {}
    blocked = frozenset(b.strip().lower() for b in BLOCKED)
    for i, rec in enumerate(records):
        for key in rec.keys:
            if not every_key and is_blocked(key, blocked):
                continue
            j = owner.setdefault(key, i)
            parent[find(i)] = find(j)
    comps: dict[int, list[IdentityRecord]] = {}
    for i, rec in enumerate(records):
        comps.setdefault(find(i), []).append(rec)
    return list(comps.values())


def _in_parts(
    records: list[IdentityRecord], cap: int, uncapped: frozenset[str], seed: int, every_key: bool
) -> None:
    comps = _components(records, every_key=every_key)
    rng = random.Random(seed)
    parts: list[list[IdentityRecord]] = [[] for _ in range(rng.randint(1, 4))]
    for comp in comps:
        rng.choice(parts).extend(comp)
    for part in parts:
        rng.shuffle(part)
    rows = [
        row
        for part in parts
        for row in resolve_part(part, blocked=BLOCKED, max_ids_per_kind=cap, uncapped=uncapped)
    ]
    rng.shuffle(rows)
    whole = resolve(records, blocked=BLOCKED, max_ids_per_kind=cap, uncapped=uncapped)
    assert assemble(records, rows) == whole


_records = st.lists(st.lists(st.sampled_from(KEYS), max_size=4), max_size=40).map(
    lambda keysets: [IdentityRecord(f"src:{i:03d}", tuple(ks)) for i, ks in enumerate(keysets)]
)


@settings(max_examples=150, deadline=None)
@given(
    records=_records,
    cap=st.integers(1, 3),
    uncapped=st.frozensets(st.sampled_from(KEYS), max_size=3),
    seed=st.integers(0, 1000),
    every_key=st.booleans(),
)
def test_parts_of_whole_components_resolve_as_one_pass(
    records: list[IdentityRecord], cap: int, uncapped: frozenset[str], seed: int, every_key: bool
) -> None:
    _in_parts(records, cap, uncapped, seed, every_key)


def test_a_component_over_the_cap_splits_as_in_one_pass() -> None:
    """A chain of six e-mails (cap 2) next to ordinary components: the refusals, the groups
    they leave and the order of the explanations are the one pass's."""
    chain = [
        IdentityRecord(
            f"crm:{i}", (f"email:{'abcdefg'[i]}@x.org", f"email:{'abcdefg'[i + 1]}@x.org")
        )
        for i in range(6)
    ]
    others = [
        IdentityRecord("shop:1", ("phone:07400111111",)),
        IdentityRecord("events:9", ("phone:07400111111", "crm_id:c1")),
        IdentityRecord("web:1", ("email:test@test.com",)),
        IdentityRecord("web:2", ("email:test@test.com",)),
    ]
    records = chain + others
    whole = resolve(records, blocked=BLOCKED, max_ids_per_kind=2)
    assert any(not m.accepted for m in whole.merges), "the cap refuses some merges"
    assert len(whole.groups()) > 4, "the chain is split and the blocked address joins nothing"
    for seed in range(5):
        _in_parts(records, 2, frozenset(), seed, every_key=True)


def test_a_record_no_part_returned_is_an_error() -> None:
    records = [IdentityRecord("a:1", ()), IdentityRecord("a:2", ())]
    rows = resolve_part(records[:1], blocked=(), max_ids_per_kind=5, uncapped=frozenset())
    with pytest.raises(RuntimeError, match="no group for 1 record"):
        assemble(records, rows)


def test_the_engine_setting_chooses_the_resolver_without_starting_spark() -> None:
    assert identity_resolver(EngineSettings()) is resolve
    on_spark = identity_resolver(EngineSettings(kind="spark", master="local[2]"))
    assert isinstance(on_spark, SparkResolver)


_CALLS: list[int] = []


def _resolve_in_parts(
    records: Iterable[IdentityRecord],
    *,
    blocked: Iterable[str] = (),
    max_ids_per_kind: int = 5,
    uncapped: frozenset[str] = frozenset(),
) -> Resolution:
    """What the Spark path does, in process: three parts of whole components, then assemble."""
    recs = list(records)
    _CALLS.append(len(recs))
    parts: list[list[IdentityRecord]] = [[], [], []]
    for n, comp in enumerate(_components(recs, every_key=True)):
        parts[n % 3].extend(comp)
    rows = [
        row
        for part in parts
        for row in resolve_part(
            part, blocked=blocked, max_ids_per_kind=max_ids_per_kind, uncapped=uncapped
        )
    ]
    return assemble(recs, rows)


def test_unify_resolving_in_parts_writes_the_same_tables(tmp_path: Path) -> None:
    """The unify seam: a full unify whose resolution is assembled from parts writes every
    identity table and profile as the one-pass unify does, on a first run and after changes
    that merge profiles, retire ids, delete and merge records."""
    results: list[UnifyResult] = []
    for results, tables in identity_data.unify_batches(tmp_path, (resolve, _resolve_in_parts), 300):
        assert results[0] == results[1]
        assert tables[0] == tables[1]
    assert results[0].refused, "the data has merges the cap refuses"
    assert results[0].retired, "the second batch merges profiles"
    assert _CALLS, "unify resolved through the resolver it was given"


def test_a_refusal_names_the_same_kind_in_every_process() -> None:
    """Found by the Spark parity test: when one union puts several kinds over the cap, the note
    named the first kind of a set, whose order depends on the process's hash seed, so the
    explanation differed between processes (and between the driver and the executors)."""
    kinds = [f"k{n}" for n in range(10)]
    a = IdentityRecord("a:1", (*(f"{k}:a{v}" for k in kinds for v in range(2)), "x:1"))
    b = IdentityRecord("b:1", (*(f"{k}:b{v}" for k in kinds for v in range(2)), "x:1"))
    (refused,) = resolve([a, b], max_ids_per_kind=3).merges
    assert refused.note == "refused: over 3 k0 values in one profile"
