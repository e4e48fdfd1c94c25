"""Generated identity data with the shapes that make resolution hard, for parity and scale runs.

Per person: a CRM record (e-mail, a phone for 40 %, a ``crm_id``) and events by e-mail or by
``crm_id``; half of them also have a shop record that shares the e-mail, links by phone alone,
or carries a second e-mail that only an event joins to the CRM record. Among them: households
(a shop record using the previous person's e-mail: two people merged), shop records with a
blocked test address, and per thousand people one company account (``account_id``) shared by
eight records with eight e-mails, over the default cap of five. ``second_batch`` changes a
part: new cross links (profiles merge, ids retire), deletions and records merged into others.
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from connector.identity.resolver import Resolver
from connector.identity.unify import UnifyResult, unify
from connector.schema.records import EventRecord, ProfileRecord, validate_event, validate_profile
from connector.store import DataStore

__all__ = [
    "BLOCKED",
    "IDENTITY_TABLES",
    "first_batch",
    "second_batch",
    "snapshot",
    "unify_batches",
]

BLOCKED = ("test@test.com", "null", "0000000000")
_DAY = "2026-03-01T00:00:00Z"


def _profile(source: str, sid: str, **fields: Any) -> ProfileRecord:
    raw = {"source_id": sid, "updated_at": _DAY, "first_name": f"N{sid}", **fields}
    return validate_profile(raw, source=source, region="GB")


def _event(eid: str, **fields: Any) -> EventRecord:
    raw = {"source_event_id": eid, "type": "order_completed", "occurred_at": _DAY, **fields}
    return validate_event(raw, source="web", region="GB")


def _phone(p: int) -> str:
    return f"07400 {p % 1_000_000:06d}"


def _person(p: int, rng: random.Random) -> tuple[list[ProfileRecord], list[EventRecord]]:
    email = f"person{p}@example.org"
    phone = _phone(p) if rng.random() < 0.4 else None
    profiles = [_profile("crm", f"c{p}", email=email, phone=phone, ids={"crm_id": f"c{p}"})]
    events = [_event(f"e{p}", email=email.upper() if p % 10 == 0 else email, revenue=10 + p % 90)]
    if rng.random() < 0.2:
        events.append(_event(f"i{p}", ids={"crm_id": f"c{p}"}, revenue=5))
    if rng.random() < 0.5:
        shape = rng.random()
        if p % 50 == 1:  # a household: the previous person's e-mail
            shop = {"email": f"person{p - 1}@example.org"}
        elif shape < 0.05:
            shop = {"email": "test@test.com"}
        elif shape < 0.25 and phone:
            shop = {"phone": phone}
        elif shape < 0.5:
            second = f"p{p}.alt@example.org"
            shop = {"email": second}
            events.append(_event(f"a{p}", email=second, ids={"crm_id": f"c{p}"}))
        else:
            shop = {"email": email}
        profiles.append(_profile("shop", f"s{p}", **shop))
    return profiles, events


def _account(a: int) -> list[ProfileRecord]:
    return [
        _profile(
            "web",
            f"acct{a}-{i}",
            email=f"staff{i}.acct{a}@corp.example",
            ids={"account_id": f"A{a}"},
        )
        for i in range(8)
    ]


def first_batch(people: int, *, seed: int = 7) -> tuple[list[ProfileRecord], list[EventRecord]]:
    """Profile records and events of `people` people (about 1.5 records each)."""
    rng = random.Random(seed)
    profiles: list[ProfileRecord] = []
    events: list[EventRecord] = []
    for p in range(people):
        ps, es = _person(p, rng)
        profiles += ps
        events += es
    for a in range(max(1, people // 1000)):
        profiles += _account(a)
    return profiles, events


def second_batch(people: int, *, seed: int = 8) -> tuple[list[ProfileRecord], list[EventRecord]]:
    """Changes to about a tenth of the people of `first_batch(people)`."""
    rng = random.Random(seed)
    profiles: list[ProfileRecord] = []
    events: list[EventRecord] = []
    for p in rng.sample(range(1, people), max(1, people // 10)):
        change = rng.random()
        if change < 0.4:  # a new link: two people's profiles merge
            events.append(
                _event(f"x{p}", email=f"person{p}@example.org", ids={"crm_id": f"c{p - 1}"})
            )
        elif change < 0.6:
            profiles.append(
                _profile("crm", f"c{p}", email=f"person{p}@example.org", phone=_phone(p))
            )
        elif change < 0.8:
            raw = {"source_id": f"c{p}", "deleted": True, "deleted_at": _DAY}
            profiles.append(validate_profile(raw, source="crm", region="GB"))
        else:
            raw = {"source_id": f"c{p}", "merged_into": f"c{p - 1}", "deleted_at": _DAY}
            profiles.append(validate_profile(raw, source="crm", region="GB"))
    return profiles, events


# what a unify writes, compared row for row between two ways of resolving
IDENTITY_TABLES = {
    "identity_map": "SELECT * FROM identity_map",
    "id_set_profile": "SELECT * FROM id_set_profile",
    "merges": "SELECT * FROM merges",
    "retired_profiles": "SELECT * FROM retired_profiles",
    "profiles": "SELECT * FROM profiles",
    "identities": "SELECT * FROM identities",
    "inactive_profiles": "SELECT * FROM inactive_profiles",
    "events": "SELECT event_id, profile_id FROM events",
    "identity_edges": "SELECT * FROM identity_edges",
}


def snapshot(store: DataStore) -> dict[str, list[tuple[Any, ...]]]:
    """Every identity table's rows, sorted (row order in a table means nothing)."""
    return {
        name: sorted(store.con.execute(sql).fetchall(), key=repr)
        for name, sql in IDENTITY_TABLES.items()
    }


def unify_batches(
    root: Path, resolvers: Sequence[Resolver], people: int
) -> Iterator[tuple[list[UnifyResult], list[dict[str, list[tuple[Any, ...]]]]]]:
    """Both batches, each stored and fully unified in one store per resolver (same id salt):
    per batch, each store's unify result and table snapshot, for the caller to compare."""
    stores = [DataStore(root / f"store{i}.duckdb") for i in range(len(resolvers))]
    try:
        for store in stores:
            store.con.execute("INSERT INTO store_meta VALUES ('id_salt', 'same-salt')")
        for run, batch in (("r1", first_batch), ("r2", second_batch)):
            profiles, events = batch(people)
            results = []
            for store, resolver in zip(stores, resolvers, strict=True):
                store.upsert_profile_records(profiles, run)
                store.upsert_events(events, run)
                results.append(
                    unify(
                        store,
                        blocked=BLOCKED,
                        max_ids_per_kind=5,
                        run_id=run,
                        full=True,
                        resolve_all=resolver,
                    )
                )
            yield results, [snapshot(store) for store in stores]
    finally:
        for store in stores:
            store.close()
