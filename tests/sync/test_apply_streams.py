"""Apply streams what the planner hands it: the Python memory a plan's apply allocates follows
the batch, not the number of profiles.

The desired state is built from a data store as a run builds it, at two sizes four times
apart, in one test; the peak of Python's own allocations while ``apply_plan`` runs (tracemalloc,
reset when apply starts) is compared between them. A first run sends everyone (the changes are
built a batch at a time from the plan's database); a run after a small change sends the same
20 changes at both sizes. Reading a person's identifiers by turning the whole identities column
into Python lists (as apply once did, on the first change it built) made both grow with the
profiles: seconds and a gigabyte at a million.
"""

from __future__ import annotations

import tracemalloc
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from connector.plugin.changes import Change, Outcome, SegmentRef, TraitSpec
from connector.state import Ledger, StateStore
from connector.store.datastore import DataStore
from connector.sync.apply import apply_plan
from connector.sync.desired import DesiredState, build_desired
from connector.sync.plan import plan_destination
from connector.sync.plan_db import DuckPlanDatabase
from connector.sync.planned import plan_engine

SMALL, LARGE = 1_500, 6_000
CHANGED = 20
VIP = SegmentRef("vip", "VIP")
SPECS = [TraitSpec("score", "number", "Score", precision=2)]


class Sink:
    """Acknowledges everything; keeps only how many changes and people it was sent."""

    def __init__(self) -> None:
        self.sent = 0
        self.people: set[str] = set()

    def batch_size(self, kind: str) -> int:
        return 150

    def apply(self, changes: Sequence[Change]) -> Sequence[Outcome]:
        self.sent += len(changes)
        self.people.update(c.recipient.profile_id for c in changes if c.recipient.ids)
        return [Outcome.ok() for _ in changes]


def _store(path: Path, n: int) -> DataStore:
    """``n`` profiles, each with an email, a phone, a platform id and a second address."""
    data = DataStore(path)
    data.con.execute(
        """INSERT INTO profiles (profile_id, email, phone, first_name, city, consent_ads)
           SELECT printf('p%06d', i), printf('u%d@example.org', i), printf('+1555%07d', i),
                  'Ann', 'Oslo', 'granted' FROM range(?) t(i)""",
        [n],
    )
    data.con.execute(
        """INSERT INTO identities SELECT printf('p%06d', i), k, v FROM range(?) t(i),
           LATERAL (VALUES ('email', printf('u%d@example.org', i)),
                           ('email', printf('old%d@example.org', i)),
                           ('hubspot_id', printf('h%d', i))) x(k, v)""",
        [n],
    )
    return data


def _desired(data: DataStore, n: int, bump: int) -> DesiredState:
    """Everyone scored and in VIP; the first ``bump`` profiles' scores moved."""
    pids = [f"p{i:06d}" for i in range(n)]
    scores = [0.5 + (0.25 if i < bump else 0.0) for i in range(n)]
    frame = pd.DataFrame({"profile_id": pids, "score": scores})
    members = pd.DataFrame({"profile_id": pids, "segment_id": "vip", "holdout": False})
    return build_desired(data, frame, members, SPECS, [VIP])


def _apply_peak(ledger: Ledger, state: DesiredState, run: str) -> tuple[int, Sink]:
    """Python's peak allocation while ``apply_plan`` sends the plan (bytes), and the sink."""
    db = DuckPlanDatabase(plan_engine())
    db.batch = 300  # the plan's rows read a batch at a time: both sizes span several batches
    plan = plan_destination("out", state, ledger, db=db)
    sink = Sink()
    try:
        tracemalloc.start()
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        result = apply_plan(plan, sink, ledger, run_id=run)
        peak = tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()
        plan.close()
    assert result.applied == sink.sent == plan.total
    return peak, sink


def _peaks(root: Path, n: int) -> tuple[int, int]:
    root.mkdir()
    data = _store(root / "data.duckdb", n)
    store = StateStore.for_workspace(root, None)
    try:
        ledger = Ledger(store)
        first, sink = _apply_peak(ledger, _desired(data, n, 0), "r1")
        assert sink.sent == 2 * n  # a trait row and a membership each
        assert len(sink.people) == n
        changed, sink = _apply_peak(ledger, _desired(data, n, CHANGED), "r2")
        assert sink.sent == CHANGED
    finally:
        store.close()
        data.close()
    return first, changed


def test_apply_memory_follows_the_batch_not_the_profiles(tmp_path: Path) -> None:
    small = _peaks(tmp_path / "small", SMALL)
    large = _peaks(tmp_path / "large", LARGE)
    ratio = [round(big / max(s, 1), 2) for s, big in zip(small, large, strict=True)]
    # linear in the profiles would be 4x; the batch's own objects make it about 1x
    assert ratio[0] < 2.0, f"first run: apply's peak grew {ratio[0]}x for 4x the profiles"
    assert ratio[1] < 2.0, f"after a small change: peak grew {ratio[1]}x for the same changes"


def test_recipients_built_in_a_batch_match_one_by_one(tmp_path: Path) -> None:
    """A batch of recipients is the same people as built one at a time (ids, other emails)."""
    data = _store(tmp_path / "data.duckdb", 3)
    try:
        state = _desired(data, 3, 0)
        pids = ["p000002", "p000000", "p000002"]
        batch = state.recipients_of(pids)
        assert batch == [state.recipients[p] for p in pids]
        assert batch[1].ids == {"hubspot_id": "h0"}
        assert batch[1].other_emails == ("old0@example.org",)
        assert batch[1].match == {"first_name": "Ann", "city": "Oslo"}
    finally:
        data.close()


def test_a_state_planned_again_after_planning_let_go_plans_the_same(tmp_path: Path) -> None:
    """``planned()`` drops what only the planner reads (digest fragments) before apply; a
    state planned again afterwards (another destination, a retry) plans the same changes."""
    data = _store(tmp_path / "data.duckdb", 40)
    store = StateStore.for_workspace(tmp_path, None)
    try:
        state = _desired(data, 40, 0)
        plans = []
        for _ in range(2):
            plan = plan_destination("out", state, Ledger(store))
            plans.append((list(plan.upserts), list(plan.adds)))
            plan.close()
            state.planned()
        assert plans[0] == plans[1]
        assert len(plans[0][0]) == len(plans[0][1]) == 40
    finally:
        store.close()
        data.close()
