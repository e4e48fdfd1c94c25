"""Plan (diff desired state against the ledger) and apply (batched, acknowledged) sync."""

from connector.sync.changes import (
    Change,
    ChangeKind,
    Outcome,
    OutcomeStatus,
    Recipient,
    SegmentRef,
    TraitSpec,
)

__all__ = [
    "Change",
    "ChangeKind",
    "Outcome",
    "OutcomeStatus",
    "Recipient",
    "SegmentRef",
    "TraitSpec",
]
