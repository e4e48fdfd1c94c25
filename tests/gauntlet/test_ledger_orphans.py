"""A crash between the platform applying a batch and the ledger commit leaves no orphan.

Found by the crash harness (a SIGKILL while HubSpot list batches were in flight left a list
member the ledger did not know): a membership the platform holds but the ledger missed was never
removed when the profile later left the segment or withdrew consent, and a removal the platform
applied but the ledger missed made the planner skip the re-add when the profile came back.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.gauntlet.recording import Killed, RecordingSink, desired_state

from connector.state import Ledger, StateStore
from connector.sync.apply import apply_plan
from connector.sync.plan import plan_destination


def _sync(ledger: Ledger, sink: RecordingSink, profiles: dict, *, crash: bool = False) -> None:
    plan = plan_destination(
        "ads",
        desired_state(profiles),
        ledger.entries("ads"),
        consent_channel="ads",
        with_traits=False,
    )
    sink.die_after_batches = sink.batches + 1 if crash else None
    try:
        apply_plan(plan, sink, ledger, run_id="r", sleep=lambda _s: None)
    except Killed:
        pass


@pytest.fixture
def ledger(tmp_path: Path) -> Ledger:
    store = StateStore.for_workspace(tmp_path, None)
    yield Ledger(store)
    store.close()


def test_member_added_before_a_crash_is_removed_when_consent_is_withdrawn(ledger: Ledger) -> None:
    sink = RecordingSink(size=10)
    granted = {"p1": {"consent": {"ads": "granted"}, "in": ["vip"]}}
    _sync(ledger, sink, granted, crash=True)  # the platform added p1; the ledger never heard
    assert sink.members["vip"] == {"p1"}
    denied = {"p1": {"consent": {"ads": "denied"}, "in": ["vip"]}}
    _sync(ledger, sink, denied)
    assert sink.members["vip"] == set(), "a profile that said no left the audience"


def test_member_removed_before_a_crash_is_re_added_when_it_returns(ledger: Ledger) -> None:
    sink = RecordingSink(size=10)
    member = {"p1": {"consent": {"ads": "granted"}, "in": ["vip"]}}
    _sync(ledger, sink, member)
    _sync(ledger, sink, {"p1": {"consent": {"ads": "granted"}, "in": []}}, crash=True)
    assert sink.members["vip"] == set()
    _sync(ledger, sink, member)
    assert sink.members["vip"] == {"p1"}, "the returning member is back in the list"
