"""Consent: nobody without the required consent reaches an ad audience or an email list.

Hypothesis drives several runs of the real planner and apply engine (and the SQLite ledger)
against a recording destination, flipping consent, segment membership and crashing mid-apply
at random between runs. After every add the recipient must have been allowed at that moment;
after every completed run the destination must hold exactly the allowed members.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.gauntlet import figures
from tests.gauntlet.recording import SEGMENTS, Killed, RecordingSink, desired_state

from connector.state import Ledger, StateStore
from connector.sync.apply import apply_plan
from connector.sync.consent import allowed
from connector.sync.plan import plan_destination

EXAMPLES = int(os.environ.get("GAUNTLET_EXAMPLES", "25"))
STATUSES = ["granted", "denied", "unknown", "", None, "GRANTED ", "revoked"]
PIDS = [f"p{i}" for i in range(8)]

profile = st.fixed_dictionaries(
    {
        "consent": st.fixed_dictionaries(
            {"email": st.sampled_from(STATUSES), "ads": st.sampled_from(STATUSES)}
        ),
        "in": st.lists(st.sampled_from([s.id for s in SEGMENTS]), unique=True),
    }
)
run = st.tuples(
    st.dictionaries(st.sampled_from(PIDS), profile, min_size=1),
    st.one_of(st.none(), st.integers(min_value=1, max_value=4)),  # crash after batch n
)


class CheckingSink(RecordingSink):
    """Checks each add against the consent the planner was given for this run."""

    allowed_now: set[str]
    violations: int = 0

    def apply(self, changes: Any) -> Any:
        for ch in changes:
            if ch.kind.value == "add" and ch.recipient.profile_id not in self.allowed_now:
                self.violations += 1
        return super().apply(changes)


_SCENARIOS = {
    "channel": st.sampled_from(["ads", "email"]),
    "policy": st.sampled_from(["strict", "not_denied"]),
    "runs": st.lists(run, min_size=2, max_size=5),
}


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(**_SCENARIOS)
def test_only_consented_profiles_are_ever_activated(
    channel: str, policy: str, runs: list[tuple[dict[str, Any], int | None]]
) -> None:
    _scenario(channel, policy, runs)


@pytest.mark.slow
@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(**_SCENARIOS)
def test_only_consented_profiles_are_ever_activated_in_depth(
    channel: str, policy: str, runs: list[tuple[dict[str, Any], int | None]]
) -> None:
    _scenario(channel, policy, runs)


def _scenario(channel: str, policy: str, runs: list[tuple[dict[str, Any], int | None]]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        store = StateStore.for_workspace(Path(tmp), None)
        try:
            _check_runs(Ledger(store), channel, policy, runs)
        finally:
            store.close()


def _check_runs(
    ledger: Ledger, channel: str, policy: str, runs: list[tuple[dict[str, Any], int | None]]
) -> None:
    sink = CheckingSink(consent=channel, size=2)  # type: ignore[arg-type]
    violations = 0
    for i, (profiles, crash_after) in enumerate(runs):
        last = i == len(runs) - 1
        state = desired_state(profiles)
        sink.allowed_now = {
            pid for pid in profiles if allowed(state.consent[pid].get(channel), policy)
        }
        plan = plan_destination(
            "dest",
            state,
            ledger.entries("dest"),
            consent_channel=channel,  # type: ignore[arg-type]
            consent_policy=policy,  # type: ignore[arg-type]
            with_traits=False,
        )
        sink.die_after_batches = None if last or crash_after is None else sink.batches + crash_after
        try:
            apply_plan(plan, sink, ledger, run_id=f"r{i}", sleep=lambda _s: None)
        except Killed:
            continue
        for seg in SEGMENTS:
            want = {p for p in state.members[seg.id] if p in sink.allowed_now}
            have = sink.members.get(seg.id, set())
            violations += len(have - want)
            assert have == want, f"run {i}, {seg.id}: holds {sorted(have)}, wants {sorted(want)}"
    violations += sink.violations
    figures.record(
        "consent",
        f"{channel}/{policy}",
        {"runs": len(runs), "adds": len(sink.adds), "violations": violations},
    )
    assert sink.violations == 0, "an add reached someone without consent"
