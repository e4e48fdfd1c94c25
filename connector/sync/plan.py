"""The planner: desired state minus what the ledger says each destination already holds.

Only differences become changes: an upsert when a profile's delivered traits differ (with the
names of traits to unset), an add for a new member, a remove only for a membership this
connector added earlier (it is in our ledger) and no longer wants.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Literal

from connector.plugin.changes import Change, ChangeKind, Recipient, SegmentRef
from connector.state.ledger import PENDING, LedgerEntry, membership_key, trait_key
from connector.sync.consent import allowed
from connector.sync.desired import DesiredState, traits_digest

__all__ = ["DestinationPlan", "plan_destination"]


@dataclass(slots=True)
class DestinationPlan:
    destination: str
    upserts: list[Change] = field(default_factory=list)
    adds: list[Change] = field(default_factory=list)
    removes: list[Change] = field(default_factory=list)
    skipped: Counter[str] = field(default_factory=Counter)
    # every wanted member per segment, planned only for a sink that replaces memberships
    members: dict[str, list[Change]] = field(default_factory=dict)

    def counts(self) -> dict[str, int]:
        return {"upsert": len(self.upserts), "add": len(self.adds), "remove": len(self.removes)}

    @property
    def total(self) -> int:
        return len(self.upserts) + len(self.adds) + len(self.removes)

    def by_kind(self) -> list[tuple[ChangeKind, list[Change]]]:
        """Upserts first (records exist before lists reference them), then removes, then adds."""
        return [
            (ChangeKind.UPSERT, self.upserts),
            (ChangeKind.REMOVE, self.removes),
            (ChangeKind.ADD, self.adds),
        ]


def plan_destination(
    destination: str,
    desired: DesiredState,
    ledger: Mapping[str, LedgerEntry],
    *,
    traits: tuple[str, ...] | Literal["all"] = "all",
    segments: tuple[str, ...] | Literal["all"] = "all",
    consent_channel: Literal["email", "ads"] | None = None,
    consent_policy: Literal["strict", "not_denied"] = "strict",
    accepts: Callable[[Recipient], bool] | None = None,
    with_traits: bool = True,
    with_memberships: bool = True,
    trait_consent_channel: Literal["email", "ads"] | None = None,
    full_members: bool = False,
) -> DestinationPlan:
    """Plan one destination; ``with_traits`` / ``with_memberships`` follow its capabilities.

    ``consent_channel`` gates memberships, ``trait_consent_channel`` traits (both under
    ``consent_policy``). A profile whose traits are no longer allowed gets them cleared: an
    upsert with no values that unsets every trait delivered before, never mere silence.
    ``full_members`` also lists every wanted member of each segment (``plan.members``), for a
    sink that replaces whole memberships.
    """
    plan = DestinationPlan(destination)
    # a recipient the destination can never identify is skipped, not planned: planned, it would
    # be rejected again every run and every run would end with rejects (exit 3)
    unidentifiable = f"not identifiable by {destination}"
    wanted = None if traits == "all" else set(traits)
    for pid in sorted(desired.traits) if with_traits else ():
        recipient = desired.recipients[pid]
        if accepts is not None and not accepts(recipient):
            plan.skipped[unidentifiable] += 1
            continue
        values = {k: v for k, v in desired.traits[pid].items() if wanted is None or k in wanted}
        if trait_consent_channel and not allowed(
            desired.consent.get(pid, {}).get(trait_consent_channel), consent_policy
        ):
            plan.skipped[f"no {trait_consent_channel} consent for traits"] += 1
            if trait_key(pid) not in ledger:
                continue  # never delivered: nothing to clear
            values = {}
        key = trait_key(pid)
        digest = traits_digest(values)
        prev = ledger.get(key)
        if prev is not None and prev.digest == digest:
            continue
        unset = tuple(sorted(set(prev.trait_names) - set(values))) if prev else ()
        plan.upserts.append(Change(ChangeKind.UPSERT, recipient, key, digest, values, unset))

    active: dict[str, SegmentRef] = {
        s.id: s
        for s in desired.segments
        if with_memberships and (segments == "all" or s.id in segments)
    }
    want: set[str] = set()
    for sid, seg in sorted(active.items()):
        for pid in sorted(desired.members.get(sid, ())):
            recipient = desired.recipients[pid]
            if consent_channel and not allowed(
                desired.consent[pid].get(consent_channel), consent_policy
            ):
                plan.skipped[f"no {consent_channel} consent"] += 1
                continue
            if accepts is not None and not accepts(recipient):
                plan.skipped[unidentifiable] += 1
                continue
            key = membership_key(sid, pid)
            want.add(key)
            add = Change(ChangeKind.ADD, recipient, key, "1", segment=seg)
            if full_members:
                plan.members.setdefault(sid, []).append(add)
            prev_entry = ledger.get(key)
            if prev_entry is None or prev_entry.digest == PENDING:
                # pending: sent before a crash, maybe applied; re-adding is idempotent
                plan.adds.append(add)
    plan.removes.extend(_removes(desired, ledger, active, want))
    return plan


def _removes(
    desired: DesiredState,
    ledger: Mapping[str, LedgerEntry],
    active: Mapping[str, SegmentRef],
    want: set[str],
) -> list[Change]:
    """Memberships in our ledger that are no longer wanted (never anything we did not add).

    Pending entries count: a crash may have left the member at the destination."""
    out: list[Change] = []
    for key, entry in sorted(ledger.items()):
        if entry.kind != "membership" or key in want:
            continue
        sid = entry.segment_id or ""
        seg = active.get(sid) or next(
            (s for s in desired.segments if s.id == sid), SegmentRef(sid, sid)
        )
        known = desired.recipients.get(entry.profile_id) or desired.departed.get(entry.profile_id)
        if known is not None:
            recipient = known
        else:
            survivor = desired.aliases.get(entry.profile_id)
            if survivor and membership_key(sid, survivor) in want:
                # merged into a profile that stays a member: the destination record is the same
                continue
            found = desired.recipients.get(survivor or "") or desired.departed.get(survivor or "")
            recipient = Recipient(
                entry.profile_id,
                email=found.email if found else None,
                phone=found.phone if found else None,
                ids=found.ids if found else {},
                other_emails=found.other_emails if found else (),
            )
        out.append(Change(ChangeKind.REMOVE, recipient, key, entry.digest, segment=seg))
    return out
