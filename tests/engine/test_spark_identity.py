"""Identity resolution on Spark (issue 15): the same `Resolution`, the same identity tables.

The Spark path (components by min-label joins, then the ordered resolver per partition of whole
components) must give exactly what one in-process pass gives: groups, refused merges, the
order of the explanations; and a full unify through it must write every identity table and
profile row for row as the DuckDB path does, on a first run and after changes.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest

from connector.engine.identity import SparkResolver, edges_of
from connector.identity.resolver import IdentityRecord, is_blocked, resolve
from connector.identity.unify import UnifyResult
from connector.testing import identity_data

pytestmark = pytest.mark.spark

BLOCKED = ("test@test.com", " NULL ", "0000000000")
# values the SQL filter and `is_blocked` must judge alike, or the SQL side more leniently
HOSTILE = (
    "email:test@test.com",
    "email:null",
    "email:\ttest@test.com",  # blocked by Python's strip, joinable for Spark's trim: a superset
    "email:é@x.org",
    "email:É@x.org",
    "phone:+440000000000",
    "phone:0000000000",
    "phone:1111111",
    "phone:111111",
)


def _records(people: int, seed: int) -> list[IdentityRecord]:
    """Three records a person on average: e-mails shared across records, phone-only links,
    some links to the next person, blocked values, records without keys; and a chain of
    e-mails over the cap. Components stay shallow: each round of the label joins costs."""
    rng = random.Random(seed)
    out = []
    for i in range(people * 3):
        p = i // 3 + (rng.random() < 0.05)
        keys = [f"email:u{p}.{rng.randrange(2)}@x.org" for _ in range(rng.choice((0, 1, 2, 2)))]
        if rng.random() < 0.3:
            keys.append(f"phone:07400{p:06d}")
        if rng.random() < 0.1:
            keys.append(rng.choice(HOSTILE))
        out.append(IdentityRecord(f"src:{i:05d}", tuple(keys)))
    chain = [
        IdentityRecord(f"chain:{i}", (f"email:c{i}@x.org", f"email:c{i + 1}@x.org"))
        for i in range(5)
    ]
    return out + chain


def test_the_edges_keep_every_key_the_resolver_joins_on(spark: Any) -> None:
    """Blocked values are left out by the resolver's rule: certainly blocked ASCII values
    (listed, padded, one repeated digit) go, everything the resolver may join on stays."""
    keys = [*HOSTILE, "email:a@x.org", "phone:07400123456", "crm_id:0000000000", "email: NULL "]
    frame = spark.createDataFrame([("r:1", keys)], "ref string, keys array<string>")
    blocked = frozenset(b.strip().lower() for b in BLOCKED)
    kept = {row["key"] for row in edges_of(frame, blocked).collect()}
    joinable = {k for k in keys if not is_blocked(k, blocked)}
    assert joinable <= kept
    assert kept - joinable == {"email:\ttest@test.com"}


def test_spark_resolution_equals_one_ordered_pass(spark: Any) -> None:
    records = _records(200, seed=3)
    uncapped = frozenset({"email:u1.0@x.org", "email:c3@x.org"})
    want = resolve(records, blocked=BLOCKED, max_ids_per_kind=3, uncapped=uncapped)
    got = SparkResolver(lambda: spark)(
        records, blocked=BLOCKED, max_ids_per_kind=3, uncapped=uncapped
    )
    assert got == want
    assert any(not m.accepted for m in want.merges), "the cap refuses merges"
    assert len(want.groups()) < len(records) * 0.6, "many records merge"


def test_full_unify_on_spark_writes_the_same_tables(spark: Any, tmp_path: Path) -> None:
    """Generated people (households, phone-only links, second e-mails joined by events,
    blocked addresses, company accounts over the cap), then changes that merge profiles and
    retire ids, delete records and merge records into others."""
    on_spark = SparkResolver(lambda: spark)
    results: list[UnifyResult] = []
    for results, tables in identity_data.unify_batches(tmp_path, (resolve, on_spark), 1500):
        assert results[0] == results[1]
        assert tables[0] == tables[1]
    assert results[0].refused, "the accounts go over the cap"
    assert results[0].retired, "the second batch merges profiles"
