"""The plan's sample in a marketer's words: people by masked email (their profile id when
they have none), segments by name, traits as ``name=value`` rather than Python dicts."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from connector.redaction import mask_email

if TYPE_CHECKING:
    from connector.plugin.changes import Change
    from connector.sync.plan import DestinationPlan

__all__ = ["sample_lines"]


def _who(change: Change) -> str:
    email = change.recipient.email
    return mask_email(email) if email else change.recipient.profile_id


def _value(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:,.2f}"
    return "(empty)" if value in (None, "") else str(value)


def _segment(change: Change) -> str:
    seg = change.segment
    if seg is None:
        return ""
    return seg.name if seg.name == seg.id else f"{seg.name} ({seg.id})"


def sample_lines(plan: DestinationPlan, sample: int = 5) -> list[str]:
    lines = []
    for ch in plan.upserts[:sample]:
        traits = ", ".join(f"{k}={_value(v)}" for k, v in ch.traits.items()) or "no traits"
        unset = f"; clear {', '.join(ch.unset)}" if ch.unset else ""
        lines.append(f"  traits {_who(ch)}: {traits}{unset}")
    lines += [f"  add    {_who(ch)} to {_segment(ch)}" for ch in plan.adds[:sample]]
    lines += [f"  remove {_who(ch)} from {_segment(ch)}" for ch in plan.removes[:sample]]
    return lines
