"""Apply a plan by replacing whole memberships, for sinks that ask for it (``ReplacesMembers``).

Meta's ``/usersreplace`` swaps an audience's members for the rows sent in one session, without
resetting the ad sets' learning phase; a destination configured for it gets, per segment with
any add or remove this run, every member it should hold (``DestinationPlan.members``) instead of
the differences. The ledger is written as ``apply_plan`` writes it: the run's adds and removes
are marked pending before the session and recorded once the sink acknowledged it; a session
that failed leaves the ledger as it was, so the next run plans the same changes again. A segment
left with no member at all is emptied through ordinary removes (a replace needs rows), and trait
upserts go through ``apply_plan`` as usual.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import replace as copy_with

from connector.errors import AuthError, RetryableError
from connector.plugin.changes import Change, ChangeKind, OutcomeStatus
from connector.plugin.protocols import ReplacesMembers
from connector.state.ledger import Ledger
from connector.state.runs import RecordError
from connector.sync.apply import ApplyResult, apply_plan
from connector.sync.plan import DestinationPlan

__all__ = ["replace_plan"]

log = logging.getLogger(__name__)


def replace_plan(
    plan: DestinationPlan,
    sink: ReplacesMembers,
    ledger: Ledger,
    *,
    run_id: str,
    retry_rounds: int = 3,
    progress: Callable[[int], None] | None = None,
) -> ApplyResult:
    """Replace each changed segment's members; anything else through ``apply_plan``."""
    dest = plan.destination
    memberships = [*plan.adds, *plan.removes]  # a replacing sink's audiences, held anyway
    changed = sorted({c.segment.id for c in memberships if c.segment is not None})
    rest = DestinationPlan(dest, upserts=plan.upserts)
    removes: list[Change] = []
    rest.removes = removes
    result = ApplyResult()
    for sid in changed:
        diff = [c for c in memberships if c.segment is not None and c.segment.id == sid]
        members = plan.members.get(sid, [])
        if not members:  # nobody left: plain removes empty the audience
            removes.extend(c for c in diff if c.kind is ChangeKind.REMOVE)
            continue
        try:
            _replace_segment(dest, sink, ledger, run_id, members, diff, result)
        except AuthError as exc:
            result.failed = str(exc)
            return result
        if progress:
            progress(len(diff))
    if rest.total:
        _merge(result, apply_plan(rest, sink, ledger, run_id=run_id, retry_rounds=retry_rounds))
    return result


def _replace_segment(
    dest: str,
    sink: ReplacesMembers,
    ledger: Ledger,
    run_id: str,
    members: Sequence[Change],
    diff: Sequence[Change],
    result: ApplyResult,
) -> None:
    segment = members[0].segment
    assert segment is not None  # noqa: S101 - membership changes carry their segment
    before = ledger.mark_pending(dest, diff, run_id)
    try:
        outcomes = list(sink.replace_members(segment, members))
    except RetryableError as exc:
        ledger.record(dest, [], run_id, restore=before)
        for change in diff:
            result.retryable += 1
            result.errors.append(_error(dest, change, f"replace failed: {exc}", retryable=True))
        return
    if len(outcomes) != len(members):
        raise RetryableError(
            f"sink {dest} returned {len(outcomes)} outcomes for {len(members)} members"
        )
    refused = {
        m.key for m, o in zip(members, outcomes, strict=True) if o.status is not OutcomeStatus.OK
    }
    held = [m for m in members if m.key not in refused]
    # a refused member is not in the audience after the swap: its ledger row goes, like a remove
    gone = [copy_with(m, kind=ChangeKind.REMOVE) for m in members if m.key in refused]
    removes = [c for c in diff if c.kind is ChangeKind.REMOVE]
    ledger.record(dest, [*held, *gone, *removes], run_id)
    reasons = {m.key: o.reason for m, o in zip(members, outcomes, strict=True)}
    for change in diff:
        if change.key in refused:
            result.rejected += 1
            result.errors.append(_error(dest, change, reasons[change.key] or "rejected"))
        else:
            result.applied += 1
    log.info("%s: replaced segment %s with %d members", dest, segment.id, len(held))


def _error(dest: str, change: Change, reason: str, *, retryable: bool = False) -> RecordError:
    return RecordError(
        "apply", dest, reason, change.key, change.recipient.profile_id, retryable=retryable
    )


def _merge(into: ApplyResult, other: ApplyResult) -> None:
    into.applied += other.applied
    into.rejected += other.rejected
    into.retryable += other.retryable
    into.errors.extend(other.errors)
    into.learned.extend(other.learned)
    into.created.extend(other.created)
    into.failed = into.failed or other.failed
