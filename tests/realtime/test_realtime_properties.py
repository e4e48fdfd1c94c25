"""Property: over random event streams delivered in random micro-batches, real-time segments
never reach a person without e-mail consent or in the segment's control group, and the stream's
final memberships equal what one evaluation of everyone (the scheduled run's) gives."""

from __future__ import annotations

import json
import tempfile
from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path

import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connector.modelling.realtime_rules import evaluate_realtime
from connector.modelling.settings import ModelSettings, RuleSegment
from connector.plugin.changes import Change, ChangeKind, Outcome, SegmentRef
from connector.state.ledger import Ledger
from connector.state.schema import ledger as ledger_table
from connector.state.store import StateStore
from connector.store.datastore import DataStore
from connector.sync.apply import apply_plan
from connector.sync.desired import build_desired
from connector.sync.plan import plan_destination

NOW = datetime(2026, 12, 1, 12, 0)
RULES = ModelSettings(
    holdout_share=0.3,
    rule_segments=(
        RuleSegment(id="views", name="Views", realtime=True,
                    expression='count(event = "product_viewed" and category = "coats", 2d) >= 2'),
        RuleSegment(id="cart", name="Cart", realtime=True,
                    expression="added_to_cart within 1d and no order_completed "
                               "since added_to_cart"),
    ),
)  # fmt: skip
SEGMENTS = [SegmentRef("views", "Views"), SegmentRef("cart", "Cart")]
CONSENT = ("granted", "denied", "unknown")
TYPES = ("product_viewed", "added_to_cart", "order_completed")


class ListSink:
    """A platform's lists: what was added and removed, in order."""

    consent = "email"
    trait_consent = None
    consent_policy = "strict"

    def __init__(self) -> None:
        self.lists: dict[str, set[str]] = {"views": set(), "cart": set()}
        self.ever: set[tuple[str, str]] = set()

    def batch_size(self, kind: str) -> int:
        return 3

    def apply(self, changes: Sequence[Change]) -> list[Outcome]:
        for ch in changes:
            assert ch.segment is not None
            members = self.lists[ch.segment.id]
            pid = ch.recipient.profile_id
            if ch.kind is ChangeKind.ADD:
                members.add(pid)
                self.ever.add((ch.segment.id, pid))
            else:
                members.discard(pid)
        return [Outcome.ok() for _ in changes]


event = st.tuples(
    st.integers(0, 7),  # person
    st.sampled_from(TYPES),
    st.sampled_from(("coats", "hats")),
    st.integers(0, 72),  # hours ago
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    consent=st.lists(st.sampled_from(CONSENT), min_size=8, max_size=8),
    events=st.lists(event, min_size=1, max_size=40),
    cuts=st.lists(st.integers(1, 10), min_size=1, max_size=8),
)
def test_no_consent_or_holdout_violation_and_the_batch_agrees(
    consent: list[str], events: list[tuple[int, str, str, int]], cuts: list[int]
) -> None:
    data, state = _STORES
    data.con.execute("DELETE FROM profiles")
    data.con.execute("DELETE FROM events")
    data.con.execute("DROP TABLE IF EXISTS profile_activity")
    with state.engine.begin() as conn:
        conn.execute(ledger_table.delete())
    _check(data, Ledger(state), consent, events, cuts)


def _stores() -> tuple[DataStore, StateStore]:
    """One pair of stores for every example (emptied before each): opening them is the slow
    part of an example."""
    root = Path(tempfile.mkdtemp(prefix="rt-props-"))
    return DataStore(root / "data.duckdb"), StateStore.for_workspace(root)


_STORES = _stores()


def _check(
    data: DataStore,
    ledger: Ledger,
    consent: list[str],
    events: list[tuple[int, str, str, int]],
    cuts: list[int],
) -> None:
    con = data.con
    for i, c in enumerate(consent):
        con.execute("INSERT INTO profiles (profile_id, email, consent_email) VALUES (?, ?, ?)",
                    [f"p{i}", f"p{i}@example.org", c])  # fmt: skip
    sink = ListSink()
    start = 0
    for size in [*cuts, len(events)]:  # micro-batches of random sizes, then the rest
        batch = events[start : start + size]
        for n, (person, etype, cat, ago) in enumerate(batch, start=start):
            con.execute(
                "INSERT INTO events (event_id, source, source_event_id, type, occurred_at, "
                "id_sig, properties, profile_id) VALUES (?, 's', ?, ?, ?, 'x', ?, ?)",
                [f"s:{n}", str(n), etype, NOW - timedelta(hours=ago),
                 json.dumps({"category": cat}), f"p{person}"],
            )  # fmt: skip
        start += len(batch)
        touched = sorted({f"p{p}" for p, *_ in batch})
        if touched:
            _deliver(data, ledger, sink, touched)
    everyone, _ = evaluate_realtime(con, RULES, NOW)
    for seg, pid in sink.ever:
        row = everyone[(everyone.profile_id == pid) & (everyone.segment_id == seg)]
        assert consent[int(pid[1:])] == "granted", "added without a consent grant"
        assert not row.empty
        assert not bool(row.holdout.iloc[0]), "a control-group member was activated"
    for seg, members in sink.lists.items():
        wanted = everyone[(everyone.segment_id == seg) & ~everyone.holdout]
        granted = {p for p in wanted.profile_id if consent[int(p[1:])] == "granted"}
        assert members == granted, "the stream and one evaluation of everyone disagree"


def _deliver(data: DataStore, ledger: Ledger, sink: ListSink, touched: list[str]) -> None:
    members, failed = evaluate_realtime(data.con, RULES, NOW, touched)
    assert failed == {}
    desired = build_desired(data, pd.DataFrame({"profile_id": []}), members, [], SEGMENTS, touched)
    keys = [f"m:{s.id}:{p}" for s in SEGMENTS for p in touched]
    plan = plan_destination("lists", desired, ledger.entries_for("lists", keys),
                            traits=(), consent_channel="email", with_traits=False)  # fmt: skip
    apply_plan(plan, sink, ledger, run_id="s-test", retry_rounds=0)  # type: ignore[arg-type]
