"""The sink's erase hook, called during apply for people being erased.

Once the ledger holds no membership (and no uncleared traits) of an erasing person at a
destination, the sink's ``erase`` runs for them (a platform privacy API where the sink has one
and its user turned it on; by default nothing more). Until it answers OK for a person, a ledger
row ``e:<profile_id>`` (kind ``erasure``, digest ``pending``) keeps the destination "not yet
cleared" for ``connector.privacy.erase.finish``, and the next run asks again. The planner reads
only trait and membership rows, so it never sees these.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import delete, insert, select

from connector.plugin.changes import OutcomeStatus, Recipient
from connector.plugin.spec import Sink
from connector.state.ledger import PENDING
from connector.state.ledger_clock import new_epoch
from connector.state.runs import RecordError
from connector.state.schema import ledger
from connector.sync.desired import DesiredState, traits_digest
from connector.workspace import Workspace

__all__ = ["erase_at_destination"]


def _ready(ws: Workspace, name: str, pids: list[str]) -> list[str]:
    """Erasing people this destination holds no list membership or uncleared traits of."""
    c = ledger.c
    empty = traits_digest({})
    with ws.state.engine.connect() as conn:
        rows = conn.execute(
            select(c.profile_id, c.kind, c.digest).where(
                c.destination == name, c.profile_id.in_(pids)
            )
        ).all()
    busy = {
        p
        for p, kind, digest in rows
        if kind == "membership" or (kind == "trait" and digest != empty)
    }
    return [p for p in pids if p not in busy]


def erase_at_destination(
    ws: Workspace, name: str, sink: Sink, desired: DesiredState, run_id: str
) -> list[RecordError]:
    """Call the sink's erase hook for the erasing people it has finished removing."""
    pids = sorted(p for p in desired.erasing if p in desired.departed)
    ready = _ready(ws, name, pids) if pids else []
    if not ready:
        return []
    recipients: list[Recipient] = [desired.departed[p] for p in ready]
    outcomes = sink.erase(recipients)
    now = datetime.now(UTC).isoformat(timespec="seconds")
    errors: list[RecordError] = []
    done, failed = [], []
    for recipient, outcome in zip(recipients, outcomes, strict=True):
        if outcome.status is OutcomeStatus.OK:
            done.append(recipient.profile_id)
            continue
        failed.append(recipient.profile_id)
        errors.append(
            RecordError(
                stage="apply",
                plugin=name,
                record_ref=f"e:{recipient.profile_id}",
                profile_id=recipient.profile_id,
                reason=f"privacy erase: {outcome.reason}"[:300],
                retryable=outcome.status is OutcomeStatus.RETRYABLE,
            )
        )
    c = ledger.c
    with ws.state.engine.begin() as conn:
        keys = [f"e:{p}" for p in done + failed]
        conn.execute(delete(ledger).where(c.destination == name, c.key.in_(keys)))
        new_epoch(conn)  # rows changed without a tick: the planner's mirrors copy afresh
        if failed:
            conn.execute(
                insert(ledger),
                [
                    {
                        "destination": name,
                        "key": f"e:{p}",
                        "kind": "erasure",
                        "profile_id": p,
                        "segment_id": None,
                        "digest": PENDING,
                        "payload": None,
                        "delivered_at": now,
                        "run_id": run_id,
                    }
                    for p in failed
                ],
            )
    return errors
