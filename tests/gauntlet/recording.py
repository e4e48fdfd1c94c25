"""A recording sink and a desired-state builder for planner-level properties (consent, crashes).

The sink keeps what a platform would hold (traits per profile, members per segment) and can be
told to die right after the platform applied a batch and before the ledger hears of it, which
is exactly what a SIGKILL between acknowledgement and ledger commit does.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from connector.plugin.changes import Change, ChangeKind, Outcome, Recipient, SegmentRef, TraitSpec
from connector.sync.desired import DesiredState


class Killed(BaseException):
    """The process died (raised past every handler, like SIGKILL)."""


@dataclass
class RecordingSink:
    consent: Literal["email", "ads"] | None = "ads"
    size: int = 3
    die_after_batches: int | None = None
    members: dict[str, set[str]] = field(default_factory=dict)
    traits: dict[str, dict[str, Any]] = field(default_factory=dict)
    adds: list[tuple[str, str]] = field(default_factory=list)
    batches: int = 0

    def batch_size(self, kind: str) -> int:
        return self.size

    def prepare(self, traits: Sequence[TraitSpec], segments: Sequence[SegmentRef]) -> None:
        return None

    def apply(self, changes: Sequence[Change]) -> Sequence[Outcome]:
        for ch in changes:
            pid = ch.recipient.profile_id
            if ch.kind is ChangeKind.UPSERT:
                current = self.traits.setdefault(pid, {})
                current.update(ch.traits)
                for name in ch.unset:
                    current.pop(name, None)
            elif ch.segment is not None and ch.kind is ChangeKind.ADD:
                self.members.setdefault(ch.segment.id, set()).add(pid)
                self.adds.append((ch.segment.id, pid))
            elif ch.segment is not None:
                self.members.setdefault(ch.segment.id, set()).discard(pid)
        self.batches += 1
        if self.die_after_batches is not None and self.batches >= self.die_after_batches:
            raise Killed
        return [Outcome.ok() for _ in changes]

    def close(self) -> None:
        return None


SEGMENTS = [SegmentRef("vip", "VIP"), SegmentRef("churn_risk", "Churn risk")]


def desired_state(
    profiles: dict[str, dict[str, Any]], segments: list[SegmentRef] = SEGMENTS
) -> DesiredState:
    """``profiles``: pid → {"consent": {"email": ..., "ads": ...}, "in": [segment ids],
    "traits": {...}}."""
    state = DesiredState(trait_specs=[TraitSpec("score", "number", "Score")], segments=segments)
    for seg in segments:
        state.members[seg.id] = set()
        state.holdouts[seg.id] = set()
    for pid, p in profiles.items():
        state.recipients[pid] = Recipient(pid, email=f"{pid}@example.org")
        state.consent[pid] = dict(p.get("consent", {}))
        state.traits[pid] = dict(p.get("traits", {}))
        for sid in p.get("in", ()):
            state.members[sid].add(pid)
    return state
