"""Planner and apply engine: only differences, removals only of what we added, rejects isolated."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest

from connector.errors import AuthError
from connector.plugin.changes import Change, ChangeKind, Outcome, Recipient, SegmentRef, TraitSpec
from connector.state import Ledger, StateStore
from connector.state.ledger import PENDING
from connector.sync.apply import apply_plan
from connector.sync.desired import DesiredState
from connector.sync.plan import plan_destination

SEG = SegmentRef("vip", "VIP")


def desired(
    traits: dict[str, dict[str, object]], members: set[str], consent: str = "granted"
) -> DesiredState:
    state = DesiredState(trait_specs=[TraitSpec("score", "number", "Score")], segments=[SEG])
    for pid, values in traits.items():
        state.traits[pid] = values
        state.recipients[pid] = Recipient(pid, email=f"{pid}@example.org")
        state.consent[pid] = {"email": consent, "sms": "unknown", "ads": consent}
    state.members = {"vip": set(members)}
    state.holdouts = {"vip": set()}
    return state


class RecordingSink:
    consent = None

    def __init__(self, verdicts: dict[str, list[Outcome]] | None = None, size: int = 2) -> None:
        self.verdicts = verdicts or {}
        self.size = size
        self.calls: list[list[str]] = []

    def batch_size(self, kind: str) -> int:
        return self.size

    def prepare(self, traits: Sequence[TraitSpec], segments: Sequence[SegmentRef]) -> None:
        return None

    def apply(self, changes: Sequence[Change]) -> Sequence[Outcome]:
        self.calls.append([c.key for c in changes])
        out = []
        for c in changes:
            queue = self.verdicts.get(c.recipient.profile_id)
            out.append(queue.pop(0) if queue else Outcome.ok())
        return out

    def close(self) -> None:
        return None


@pytest.fixture
def ledger(tmp_path: Path) -> Ledger:
    return Ledger(StateStore(f"sqlite:///{tmp_path / 'state.db'}"))


def test_plan_only_differences_then_nothing(ledger: Ledger) -> None:
    want = desired({"a": {"score": 1}, "b": {"score": 2}}, {"a"})
    plan = plan_destination("d", want, ledger.entries("d"))
    assert plan.counts() == {"upsert": 2, "add": 1, "remove": 0}
    apply_plan(plan, RecordingSink(), ledger, run_id="r1")
    assert plan_destination("d", want, ledger.entries("d")).total == 0
    changed = desired({"a": {"score": 1}, "b": {"score": 3}}, {"b"})
    plan = plan_destination("d", changed, ledger.entries("d"))
    assert [c.recipient.profile_id for c in plan.upserts] == ["b"]
    assert [c.recipient.profile_id for c in plan.adds] == ["b"]
    assert [c.recipient.profile_id for c in plan.removes] == ["a"]


def test_trait_that_disappears_is_unset(ledger: Ledger) -> None:
    apply_plan(
        plan_destination("d", desired({"a": {"score": 1, "tier": "x"}}, set()), {}),
        RecordingSink(),
        ledger,
        run_id="r",
    )
    plan = plan_destination("d", desired({"a": {"score": 1}}, set()), ledger.entries("d"))
    assert [(c.recipient.profile_id, c.unset) for c in plan.upserts] == [("a", ("tier",))]


def test_removals_touch_only_memberships_we_added(ledger: Ledger) -> None:
    # nothing in our ledger: even though "z" is not wanted, we never remove what we did not add
    plan = plan_destination("d", desired({"a": {"score": 1}}, set()), ledger.entries("d"))
    assert plan.removes == []


def test_consent_gate_filters_list_members(ledger: Ledger) -> None:
    want = desired({"a": {"score": 1}}, {"a"}, consent="unknown")
    strict = plan_destination("d", want, {}, consent_channel="email", consent_policy="strict")
    loose = plan_destination("d", want, {}, consent_channel="email", consent_policy="not_denied")
    assert strict.adds == []
    assert strict.skipped["no email consent"] == 1
    assert [c.recipient.profile_id for c in loose.adds] == ["a"]


def test_revoked_consent_removes_the_member(ledger: Ledger) -> None:
    apply_plan(
        plan_destination("d", desired({"a": {"score": 1}}, {"a"}), {}, consent_channel="ads"),
        RecordingSink(),
        ledger,
        run_id="r",
    )
    revoked = desired({"a": {"score": 1}}, {"a"}, consent="denied")
    plan = plan_destination("d", revoked, ledger.entries("d"), consent_channel="ads")
    assert [c.key for c in plan.removes] == ["m:vip:a"]


def test_rejected_change_is_isolated_and_not_in_ledger(ledger: Ledger) -> None:
    want = desired({p: {"score": 1} for p in "abcde"}, set())
    sink = RecordingSink({"c": [Outcome.rejected("Property values were not valid")]})
    res = apply_plan(plan_destination("d", want, {}), sink, ledger, run_id="r")
    assert (res.applied, res.rejected) == (4, 1)
    assert [e.reason for e in res.errors] == ["Property values were not valid"]
    assert sorted(ledger.entries("d")) == ["t:a", "t:b", "t:d", "t:e"]
    assert all(len(call) <= 2 for call in sink.calls), "batches respect the sink's size"


def test_retryable_changes_get_more_rounds_then_wait_for_next_run(ledger: Ledger) -> None:
    want = desired({"a": {"score": 1}, "b": {"score": 1}}, set())
    flaky = {
        "a": [Outcome.retryable("503"), Outcome.retryable("503")],
        "b": [Outcome.retryable("429", 0.0)] * 9,
    }
    slept: list[float] = []
    res = apply_plan(
        plan_destination("d", want, {}),
        RecordingSink(flaky),
        ledger,
        run_id="r",
        retry_rounds=3,
        sleep=slept.append,
    )
    assert res.applied == 1
    assert res.retryable == 1
    assert res.errors[0].retryable
    assert res.errors[0].profile_id == "b"
    # b gave up (it may or may not have landed): pending, so the next run re-sends it
    assert {k: e.digest == PENDING for k, e in ledger.entries("d").items()} == {
        "t:a": False,
        "t:b": True,
    }
    assert len(slept) == 3


def test_auth_error_stops_the_destination(ledger: Ledger) -> None:
    class Revoked(RecordingSink):
        def apply(self, changes: Sequence[Change]) -> Sequence[Outcome]:
            raise AuthError("HTTP 401: token revoked")

    res = apply_plan(
        plan_destination("d", desired({"a": {"score": 1}}, set()), {}),
        Revoked(),
        ledger,
        run_id="r",
    )
    assert res.failed
    assert "token revoked" in res.failed
    assert all(e.digest == PENDING for e in ledger.entries("d").values()), "nothing delivered"


def test_wrong_outcome_count_is_a_fatal_sink_bug(ledger: Ledger) -> None:
    class Short(RecordingSink):
        def apply(self, changes: Sequence[Change]) -> Sequence[Outcome]:
            return [Outcome.ok()]

    with pytest.raises(Exception, match="returned 1 outcomes for 2 changes"):
        apply_plan(
            plan_destination("d", desired({"a": {"s": 1}, "b": {"s": 1}}, set()), {}),
            Short(),
            ledger,
            run_id="r",
        )


def test_change_kinds_order_upserts_removes_adds(ledger: Ledger) -> None:
    apply_plan(
        plan_destination("d", desired({"a": {"score": 1}}, {"a"}), {}),
        RecordingSink(),
        ledger,
        run_id="r",
    )
    plan = plan_destination(
        "d", desired({"a": {"score": 2}, "b": {"score": 1}}, {"b"}), ledger.entries("d")
    )
    sink = RecordingSink(size=10)
    apply_plan(plan, sink, ledger, run_id="r2")
    kinds = [ch.split(":")[0] for call in sink.calls for ch in call]
    assert kinds == ["t", "t", "m", "m"]
    assert plan.by_kind()[0][0] is ChangeKind.UPSERT


def test_a_merged_away_member_is_removed_through_its_own_platform_record(ledger: Ledger) -> None:
    """Two people, each with their own record at the destination, merge in our graph; when the
    survivor leaves, the membership the retired one held is removed by the retired one's id,
    not sent twice to the survivor's record (which left the other record in the list)."""
    both = desired({"a": {"score": 1}, "b": {"score": 2}}, {"a", "b"})
    both.recipients["a"] = Recipient("a", email="a@example.org", ids={"hubspot_id": "101"})
    both.recipients["b"] = Recipient("b", email="b@example.org", ids={"hubspot_id": "202"})
    apply_plan(plan_destination("d", both, {}), RecordingSink(), ledger, run_id="r1")
    after = desired({}, set())
    after.departed["a"] = Recipient("a", email="a@example.org", ids={"hubspot_id": "101"})
    after.aliases["b"] = "a"
    after.retired_ids["b"] = {"hubspot_id": "202"}
    plan = plan_destination("d", after, ledger.entries("d"))
    assert sorted(c.recipient.ids["hubspot_id"] for c in plan.removes) == ["101", "202"]


def test_a_member_whose_address_changed_is_added_to_a_hashed_audience_again(
    ledger: Ledger,
) -> None:
    """A hashed audience holds the person under an address: a changed one is an add again
    (``moved``, so the sink removes the old row), and only for that person and only there."""
    want = desired({"a": {"score": 1}, "b": {"score": 2}}, {"a", "b"})

    def plan(dest: str, by_address: bool = True) -> list[tuple[str, bool]]:
        found = plan_destination(dest, want, ledger.entries(dest), members_by_address=by_address)
        apply_plan(found, RecordingSink(), ledger, run_id="r")
        return [(c.recipient.profile_id, c.moved) for c in found.adds]

    assert plan("ads") == [("a", False), ("b", False)]
    assert plan("lists", by_address=False) == [("a", False), ("b", False)]
    want.recipients["a"] = Recipient("a", email="new@example.org", other_emails=("a@example.org",))

    assert plan("ads") == [("a", True)]
    assert plan("lists", by_address=False) == []  # a list keyed by platform id: nothing to do
    assert plan("ads") == []  # settled
    digest = ledger.entries("ads")["m:vip:a"].digest
    assert digest.startswith("1:")
    assert "@" not in digest  # a hash: no address in the ledger
    assert ledger.entries("ads")["m:vip:b"].digest == "1"  # nobody else's digest moved
    want.recipients["a"] = Recipient(
        "a", email="newer@example.org", other_emails=("a@example.org", "new@example.org")
    )
    assert plan("ads") == [("a", True)]


def _a_merged_into_b(
    ledger: Ledger, kind: str, before: tuple[str, str], writes: str, retired: str
) -> DesiredState:
    """a and b delivered to their records ``before`` (a's, b's) of ``kind``; then a merged
    into b, which writes to ``writes`` while a names ``retired``."""
    both = desired({"a": {"score": 1}, "b": {"score": 2}}, {"a", "b"})
    both.recipients["a"] = Recipient("a", email="a@example.org", ids={kind: before[0]})
    both.recipients["b"] = Recipient("b", email="b@example.org", ids={kind: before[1]})
    apply_plan(plan_destination("d", both, {}), RecordingSink(), ledger, run_id="r1")
    merged = desired({"b": {"score": 2}}, {"b"})
    merged.recipients["b"] = Recipient(
        "b", email="b@example.org", ids={kind: writes}, other_emails=("a@example.org",)
    )
    merged.aliases["a"] = "b"
    merged.retired_ids["a"] = {kind: retired}
    return merged


def test_a_merged_away_profile_with_its_own_record_leaves_the_list_and_is_cleared(
    ledger: Ledger,
) -> None:
    """Two people with a Klaviyo profile each merge in our graph and the survivor stays in the
    segment: the merged-away profile's own record leaves the list and its traits are cleared
    (``record_kind``), so the person is on the list once, not mailed at both addresses."""
    merged = _a_merged_into_b(ledger, "klaviyo_id", ("KA", "KB"), writes="KB", retired="KA")

    kept = plan_destination("d", merged, ledger.entries("d"))
    plan = plan_destination("d", merged, ledger.entries("d"), record_kind="klaviyo_id")

    assert kept.removes == []  # without it the membership is the survivor's: KA stays listed
    removed = [(c.key, c.recipient.ids["klaviyo_id"], c.merged_away) for c in plan.removes]
    assert removed == [("m:vip:a", "KA", True)]
    cleared = [
        (c.recipient.ids["klaviyo_id"], c.clears, c.merged_away)
        for c in plan.upserts
        if c.key == "t:a"
    ]
    assert cleared == [("KA", True, True)]
    assert [c.key for c in kept.upserts] == ["t:b"]  # b only: its address digest moved
    assert not any(c.merged_away for c in plan.upserts if c.key == "t:b")
    assert plan.adds == []


def test_a_record_the_survivor_names_too_is_the_survivors_and_keeps_its_lists(
    ledger: Ledger,
) -> None:
    """A merged-away profile that names the survivor's own platform record (both learned the
    same one) has no record of its own: nothing is removed or cleared through it, which would
    take the survivor off the list."""
    merged = _a_merged_into_b(ledger, "klaviyo_id", ("KB", "KB"), writes="KB", retired="KB")

    plan = plan_destination("d", merged, ledger.entries("d"), record_kind="klaviyo_id")

    assert plan.removes == []
    assert [c for c in plan.upserts if c.clears] == []


def test_when_the_survivor_writes_to_the_merged_away_record_its_former_one_leaves(
    ledger: Ledger,
) -> None:
    """The survivor's ids name both records of the person and the one it now writes to is
    the merged-away profile's (the first of its kind): its own former record, which holds its
    membership, is the one taken off the list and cleared, not the one it writes to."""
    merged = _a_merged_into_b(ledger, "hubspot_id", ("101", "202"), writes="101", retired="101")
    merged.held_ids = {"b": {"hubspot_id": ("101", "202")}}

    plan = plan_destination("d", merged, ledger.entries("d"), record_kind="hubspot_id")

    assert [(c.key, c.recipient.ids["hubspot_id"]) for c in plan.removes] == [("m:vip:a", "202")]
    cleared = [c.recipient.ids["hubspot_id"] for c in plan.upserts if c.clears]
    assert cleared == ["202"]
    assert plan.adds == []
