"""Plans of one desired state in two plan databases (DuckDB and Spark), compared change by change.

The desired state is built from one model result (the DuckDB run's): the two engines' scores
agree within 1e-6, which is their tolerance, while a planned trait is a digest of rounded
values, so the plan's own parity is checked on the same input. Two runs per destination: a
first against an empty ledger, then a second against a ledger (a real SQLite state store, read
through ``Ledger.scan``) holding part of the first run's changes, some of them pending, stale
digests and memberships, with scores nudged within and beyond their precision, a profile that
left and is erased, and profiles merged into others: upserts, creates, clears, settled scores,
adds, removes and unchanged keys all occur. Two destinations: one with the defaults, one with
consent gates, a ``known`` hook, ``update_only``, a trait subset, a held segment and full
memberships.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb

from connector.modelling.engine import ModelResult
from connector.plugin.changes import Change, ChangeKind, Recipient, SegmentRef, TraitSpec
from connector.state import Ledger, StateStore
from connector.sync.desired import DesiredState
from connector.sync.plan import DestinationPlan, plan_destination
from connector.sync.plan_db import DuckPlanDatabase, PlanDatabase

DatabaseFor = Callable[[str], PlanDatabase]


def duck_database(destination: str) -> PlanDatabase:
    return DuckPlanDatabase(duckdb.connect())


def _value(value: Any) -> Any:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, float):
        rounded = round(value, 2)
        return int(rounded) if rounded.is_integer() else rounded
    if hasattr(value, "item"):
        return _value(value.item())
    return str(value) if not isinstance(value, int | str) else value


def desired_from(result: ModelResult) -> DesiredState:
    """Every score a trait (numbers at two decimals), every segment with its members."""
    scores = result.scores
    cols = [c for c in scores.columns if c != "profile_id"]
    specs = [
        TraitSpec(c, "number", c, precision=2)
        if scores[c].dtype.kind in "fiu"
        else TraitSpec(c, "string", c)
        for c in cols
    ]
    segments = [SegmentRef(str(s["id"]), str(s["name"])) for s in result.segments]
    state = DesiredState(trait_specs=specs, segments=segments)
    for i, row in enumerate(scores.to_dict("records")):
        pid = str(row["profile_id"])
        state.recipients[pid] = Recipient(pid, email=f"{_hash(pid)}@example.org")
        state.consent[pid] = {"email": "denied" if i % 4 == 3 else "granted"}
        state.traits[pid] = {c: v for c in cols if (v := _value(row[c])) is not None}
    state.members = {s.id: set() for s in segments}
    state.holdouts = {s.id: set() for s in segments}
    for pid, sid, holdout in result.memberships[["profile_id", "segment_id", "holdout"]].itertuples(
        index=False
    ):
        if sid in state.members and pid in state.recipients:
            (state.holdouts if holdout else state.members)[sid].add(pid)
    return state


def _hash(text: str) -> int:
    return int(hashlib.sha256(text.encode()).hexdigest()[:8], 16)


def second_run(first: DesiredState) -> DesiredState:
    """The next run's desired state: scores nudged (by less than a unit of their precision and
    by more), one profile gone and erased, two merged into others."""
    pids = sorted(first.recipients)
    state = DesiredState(first.trait_specs, first.segments)
    state.recipients = dict(first.recipients)
    state.consent = dict(first.consent)
    state.members = {s: set(m) for s, m in first.members.items()}
    state.holdouts = {s: set(m) for s, m in first.holdouts.items()}
    for i, pid in enumerate(pids):
        step = (0.01, -0.01, 0.0, 0.07, 0.0)[i % 5]
        state.traits[pid] = {
            k: round(v + step, 2) if isinstance(v, float) else v
            for k, v in first.traits[pid].items()
        }
    gone, merged = pids[4], pids[5:7]  # pids[4]: traits delivered in run 1
    state.departed[gone] = state.recipients[gone]
    state.erasing.add(gone)
    for pid in (gone, *merged):
        del state.recipients[pid], state.traits[pid]
        for group in state.members.values():
            group.discard(pid)
    state.aliases = {merged[0]: pids[0], merged[1]: pids[1]}
    return state


def _configs(desired: DesiredState) -> dict[str, dict[str, Any]]:
    numbers = tuple(t.name for t in desired.trait_specs if t.type == "number")[:3]
    held = tuple(s.id for s in desired.segments[:1])
    return {
        "lists": {},
        "ads": {
            "traits": numbers,
            "segments": tuple(s.id for s in desired.segments[1:]),
            "held": held,
            "consent_channel": "email",
            "trait_consent_channel": "email",
            "known": lambda r: (None, True, False)[_hash(r.profile_id) % 3],
            "update_only": True,
            "full_members": True,
        },
    }


def shape(plan: DestinationPlan) -> dict[str, Any]:
    """Everything a plan sends, and what it counted, in order."""
    out: dict[str, Any] = {
        "counts": plan.counts(),
        "creates": plan.creates,
        "skipped": dict(plan.skipped),
        "members": {s: [c.key for c in m] for s, m in plan.members.items()},
    }
    for kind, changes in plan.by_kind():
        out[kind.value] = [_change(c) for c in changes]
    return out


def _change(c: Change) -> tuple[Any, ...]:
    seg = c.segment.id if c.segment else None
    traits = sorted(c.traits.items())
    who = (c.recipient.profile_id, c.recipient.email)
    return (c.kind.value, c.key, c.digest, traits, c.unset, seg, who, c.may_create)


def _stale(plan: DestinationPlan) -> list[Change]:
    """Ledger rows the next run no longer agrees with: an old trait set, a retired segment."""
    out: list[Change] = []
    for c in list(plan.upserts)[1::7]:
        old = {**c.traits, "retired_trait": 1}
        out.append(Change(ChangeKind.UPSERT, c.recipient, c.key, "0" * 32, old))
    for c in list(plan.adds)[::9]:
        seg = SegmentRef("retired_segment", "Retired")
        key = f"m:retired_segment:{c.recipient.profile_id}"
        out.append(Change(ChangeKind.ADD, c.recipient, key, "1", segment=seg))
    return list({c.key: c for c in out}.values())  # one row per key (a person in two lists)


def _deliver_part(ledger: Ledger, name: str, plan: DestinationPlan) -> None:
    """Half the first plan acknowledged, a few changes left pending, stale rows besides."""
    upserts, adds = list(plan.upserts), list(plan.adds)
    ledger.record(name, [*upserts[::2], *adds[::2]], "r1")
    ledger.mark_pending(name, [*upserts[1::10], *adds[1::10]], "r1")
    ledger.record(name, _stale(plan), "r0")


def plans_match(
    result: ModelResult,
    one: DatabaseFor,
    other: DatabaseFor,
    state_dir: Path,
    destinations: tuple[str, ...] = ("lists", "ads"),
) -> dict[str, dict[str, int]]:
    """Plan both runs for ``destinations`` in ``one`` and ``other``; assert every change
    equal; return the second run's counts per destination (from ``one``)."""
    first = desired_from(result)
    state_dir.mkdir(parents=True, exist_ok=True)
    store = StateStore.for_workspace(state_dir, None)
    ledger = Ledger(store)
    counts: dict[str, dict[str, int]] = {}
    try:
        for name in destinations:
            options = _configs(first)[name]
            for run, desired in enumerate((first, second_run(first))):
                a = plan_destination(name, desired, ledger, db=one(name), **options)
                b = plan_destination(name, desired, ledger, db=other(name), **options)
                try:
                    assert shape(b) == shape(a), f"{name}, run {run + 1}"
                    if run == 0:
                        _deliver_part(ledger, name, a)
                    else:
                        cleared = sum(1 for c in a.upserts if not c.traits and c.unset)
                        counts[name] = {
                            **a.counts(),
                            "unchanged": _unchanged(desired, a),
                            "cleared": cleared,
                        }
                finally:
                    a.close()
                    b.close()
    finally:
        store.close()
    return counts


def _unchanged(desired: DesiredState, plan: DestinationPlan) -> int:
    """Wanted trait keys the plan leaves alone (the ledger already holds them)."""
    return len(desired.traits) - sum(1 for c in plan.upserts if c.key[2:] in desired.traits)
