"""The plan inside the data engine: the same changes whichever way the ledger is read, changes
built as they are read, and scores that moved by less than their precision left alone."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest

from connector.plugin.changes import Change, Outcome, Recipient, SegmentRef, TraitSpec
from connector.state import Ledger, StateStore
from connector.sync.apply import apply_plan
from connector.sync.desired import DesiredState
from connector.sync.plan import plan_destination
from connector.sync.planned import PlannedChanges

VIP = SegmentRef("vip", "VIP")
LAPSED = SegmentRef("lapsed", "Lapsed")
SPECS = [
    TraitSpec("p_buy", "number", "Purchase propensity", precision=2),
    TraitSpec("clv", "number", "Predicted CLV", precision=0),
    TraitSpec("tier", "enum", "Tier", options=("low", "high")),
]


@pytest.fixture
def ledger(tmp_path: Path) -> Ledger:
    store = StateStore.for_workspace(tmp_path, None)
    yield Ledger(store)
    store.close()


def _desired(people: dict[str, dict[str, object]], members: dict[str, set[str]]) -> DesiredState:
    state = DesiredState(trait_specs=SPECS, segments=[VIP, LAPSED])
    for pid, traits in people.items():
        state.recipients[pid] = Recipient(pid, email=f"{pid}@example.org")
        state.consent[pid] = {"email": "granted", "sms": "unknown", "ads": "granted"}
        state.traits[pid] = dict(traits)
    state.members = {s.id: set(members.get(s.id, ())) for s in (VIP, LAPSED)}
    state.holdouts = {s.id: set() for s in (VIP, LAPSED)}
    return state


def _shape(changes: Sequence[Change]) -> list[tuple[object, ...]]:
    return [
        (c.kind, c.key, c.digest, dict(c.traits), c.unset, c.segment, c.recipient.profile_id)
        for c in changes
    ]


class Sink:
    """Acknowledges everything and keeps what it was sent."""

    def __init__(self) -> None:
        self.sent: list[Change] = []

    def batch_size(self, kind: str) -> int:
        return 3

    def apply(self, changes: Sequence[Change]) -> Sequence[Outcome]:
        self.sent.extend(changes)
        return [Outcome.ok() for _ in changes]


def _sync(ledger: Ledger, state: DesiredState, **kw: object) -> Sink:
    sink = Sink()
    plan = plan_destination("d", state, ledger, **kw)  # type: ignore[arg-type]
    apply_plan(plan, sink, ledger, run_id="r", sleep=lambda _s: None)  # type: ignore[arg-type]
    return sink


def test_reading_the_ledger_in_chunks_plans_what_its_entries_plan(ledger: Ledger) -> None:
    people = {f"p{i:02d}": {"p_buy": i / 100, "clv": 10 * i, "tier": "low"} for i in range(30)}
    _sync(ledger, _desired(people, {"vip": {f"p{i:02d}" for i in range(0, 30, 2)}}))
    changed = {pid: {**t, "tier": "high"} for pid, t in list(people.items())[:7]}
    gone = {f"p{i:02d}" for i in range(0, 30, 3)}
    after = _desired(
        {**{p: t for p, t in people.items() if p not in gone}, **changed, "new": {"clv": 5}},
        {"vip": {f"p{i:02d}" for i in range(1, 30, 2)} - gone, "lapsed": {"p01", "new"}},
    )
    by_chunks = plan_destination("d", after, ledger, held=("lapsed",))
    by_entries = plan_destination(
        "d", after, {k: e for k, e in ledger.entries("d").items() if e.segment_id != "lapsed"}
    )
    assert isinstance(by_chunks.upserts, PlannedChanges), "built as read, not held as a list"
    for kind, changes in by_chunks.by_kind():
        assert _shape(changes) == _shape(dict(by_entries.by_kind())[kind]), kind
    assert by_chunks.counts() == {"upsert": 8, "add": 12, "remove": 15}
    assert _shape(by_chunks.adds[3:6]) == _shape(list(by_chunks.adds)[3:6])
    assert by_chunks.adds[-1].key == "m:vip:p29"


def test_a_refit_that_moves_scores_by_less_than_their_precision_plans_no_upsert(
    ledger: Ledger,
) -> None:
    people = {f"p{i}": {"p_buy": 0.43, "clv": 120, "tier": "low"} for i in range(20)}
    _sync(ledger, _desired(people, {}))
    # a refit: each score moves by less than one unit of its precision, and so, once rounded
    # as delivered, by one unit at most (0.43 -> 0.44 or 0.42, 120 -> 121 or 119)
    nudged = {
        pid: {"p_buy": 0.43 + (0.01 if i % 2 else -0.01), "clv": 120 + (i % 3 - 1), "tier": "low"}
        for i, pid in enumerate(people)
    }
    assert plan_destination("d", _desired(nudged, {}), ledger).total == 0
    exact = plan_destination("d", _desired(nudged, {}), ledger, hold_small_moves=False)
    assert len(exact.upserts) == 20, "with the setting off every moved score is re-sent"
    # real moves are sent; a profile sent for another reason keeps its delivered score
    moved = {**nudged, "p0": {"p_buy": 0.45, "clv": 120, "tier": "low"}}
    moved["p1"] = {"p_buy": 0.44, "clv": 121, "tier": "high"}
    sink = _sync(ledger, _desired(moved, {}))
    assert {c.recipient.profile_id: dict(c.traits) for c in sink.sent} == {
        "p0": {"p_buy": 0.45, "clv": 120, "tier": "low"},
        "p1": {"p_buy": 0.43, "clv": 120, "tier": "high"},
    }
    assert plan_destination("d", _desired(moved, {}), ledger).total == 0, "settled for good"
