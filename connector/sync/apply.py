"""The apply engine: batches of the sink's size, one outcome per change, ledger after ack.

The ledger is written only for changes the destination acknowledged, in one transaction per
batch, after the sink returned. Before the batch leaves, its keys are marked pending, so a crash
between the two re-sends (or, for members no longer wanted, removes) that batch next run; sinks
upsert idempotently, so the destination ends the same. Retryable outcomes get further passes
(``retry_rounds``) before they are recorded for the next run; rejected ones are recorded with
the platform's reason and never hold back the rest of their batch.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from itertools import islice

from connector.errors import AuthError, FatalError
from connector.plugin.changes import Change, ChangeKind, Outcome, OutcomeStatus
from connector.plugin.spec import Sink
from connector.runctl.crashpoints import crashpoint, pausepoint
from connector.runctl.stop import stop_requested
from connector.state.ledger import Ledger
from connector.state.runs import RecordError
from connector.sync.plan import DestinationPlan

__all__ = ["ApplyResult", "apply_plan"]

log = logging.getLogger(__name__)


@dataclass(slots=True)
class ApplyResult:
    applied: int = 0
    rejected: int = 0
    retryable: int = 0
    errors: list[RecordError] = field(default_factory=list)
    learned: list[tuple[str, str, str]] = field(default_factory=list)
    # learned ids of changes that may have created the platform's record (upserts and adds that
    # may create): ``connector.pipeline.activate`` keeps the ones no source or sink knew before
    created: list[tuple[str, str, str]] = field(default_factory=list)
    failed: str | None = None


class _StopRequested(Exception):
    """Raised between batches when a graceful stop was requested."""


def _check_stop() -> None:
    if stop_requested():
        raise _StopRequested("stopped on request before sending the remaining batches")


def _chunks(items: Iterable[Change], size: int) -> Iterator[list[Change]]:
    """Batches of ``size`` read as they are sent: a plan's changes are built from the plan's
    database as apply reads them (``PlannedChanges``), never all at once."""
    size = max(1, size)
    it = iter(items)
    while chunk := list(islice(it, size)):
        yield chunk


def apply_plan(
    plan: DestinationPlan,
    sink: Sink,
    ledger: Ledger,
    *,
    run_id: str,
    retry_rounds: int = 3,
    progress: Callable[[int], None] | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> ApplyResult:
    result = ApplyResult()
    dest = plan.destination
    pending: list[tuple[ChangeKind, Sequence[Change]]] = [(k, v) for k, v in plan.by_kind() if v]
    last_reason: dict[str, str] = {}
    try:
        for round_no in range(retry_rounds + 1):
            retry: list[tuple[ChangeKind, Sequence[Change]]] = []
            wait = 0.0
            for kind, changes in pending:
                again: list[Change] = []
                for chunk in _chunks(changes, sink.batch_size(kind.value)):
                    _check_stop()
                    before = ledger.mark_pending(dest, chunk, run_id)
                    outcomes = list(sink.apply(chunk))
                    if len(outcomes) != len(chunk):
                        raise FatalError(
                            f"sink {dest} returned {len(outcomes)} outcomes "
                            f"for {len(chunk)} changes"
                        )
                    crashpoint("apply.after_ack")
                    _settle(dest, chunk, outcomes, result, again, last_reason)
                    pairs = list(zip(chunk, outcomes, strict=True))
                    # refused changes were not applied: their rows go back as they were; those
                    # that gave up (timeouts...) may have been, so they stay pending
                    refused = {c.key for c, o in pairs if o.status is OutcomeStatus.REJECTED}
                    ledger.record(
                        dest,
                        [c for c, o in pairs if o.status is OutcomeStatus.OK],
                        run_id,
                        restore={k: before[k] for k in refused},
                    )
                    crashpoint("apply.after_ledger")
                    pausepoint("apply.after_ledger")
                    if progress:
                        progress(len(chunk))
                    wait = max(wait, *(o.retry_after or 0.0 for o in outcomes))
                if again:
                    retry.append((kind, again))
            pending = retry
            if not pending:
                break
            if round_no < retry_rounds:
                log.info(
                    "%s: %d changes to retry (round %d)",
                    dest,
                    sum(len(c) for _, c in pending),
                    round_no + 1,
                )
                sleep(min(wait or 1.0, 60.0))
    except _StopRequested as exc:
        # graceful stop: every acknowledged batch is in the ledger; the rest is re-planned
        result.failed = str(exc)
        pending = []
    except AuthError as exc:
        result.failed = str(exc)
        log.error("%s: credentials refused; this destination stops: %s", dest, exc)
    for _kind, changes in pending:
        for ch in changes:
            result.retryable += 1
            result.errors.append(
                RecordError(
                    "apply",
                    dest,
                    last_reason.get(ch.key, "gave up after retries; will retry next run"),
                    ch.key,
                    ch.recipient.profile_id,
                    retryable=True,
                )
            )
    return result


def _settle(
    dest: str,
    chunk: Sequence[Change],
    outcomes: Sequence[Outcome],
    result: ApplyResult,
    again: list[Change],
    last_reason: dict[str, str],
) -> None:
    for change, outcome in zip(chunk, outcomes, strict=True):
        if outcome.status is OutcomeStatus.OK:
            result.applied += 1
            creates = change.may_create and change.kind is not ChangeKind.REMOVE
            for kind, value in outcome.learned_ids.items():
                result.learned.append((change.recipient.profile_id, kind, value))
                if creates:
                    result.created.append((change.recipient.profile_id, kind, value))
        elif outcome.status is OutcomeStatus.REJECTED:
            result.rejected += 1
            result.errors.append(
                RecordError(
                    "apply",
                    dest,
                    outcome.reason or "rejected",
                    change.key,
                    change.recipient.profile_id,
                )
            )
        else:
            last_reason[change.key] = outcome.reason or "retryable"
            again.append(change)
