"""Which platform record of a merged person leaves our lists (``PlatformRecords``).

Two profiles that each had a record at a platform keeping records apart (a Klaviyo profile, a
HubSpot contact) merge in our graph: the platform still holds the person twice. The survivor
writes to one record, the first of its ids of that kind (``Recipient.ids``); the other is
taken off our lists and our traits on it are cleared, so the person is there once. The other
record is usually the merged-away profile's own; but the survivor's ids name every record of
the person, so when the one it writes to now is the merged-away profile's, its own former
record is the other one.
"""

from __future__ import annotations

from connector.sync.desired import DesiredState

__all__ = ["apart", "retired"]


def retired(desired: DesiredState) -> set[str]:
    """Profiles merged into another that have no recipient of their own any more."""
    return {
        pid
        for pid in desired.aliases
        if pid not in desired.recipients and pid not in desired.departed
    }


def apart(desired: DesiredState, record_kind: str | None) -> dict[str, str]:
    """Merged-away profile → the record of ``record_kind`` its memberships and traits are
    taken back from: one the survivor does not write to. A profile whose one record is the
    one the survivor writes to, with no other, has none (nothing to take back)."""
    if record_kind is None:
        return {}
    own = {
        p: desired.retired_ids[p][record_kind]
        for p in retired(desired)
        if desired.retired_ids.get(p, {}).get(record_kind)
    }
    live = [p for p in own if desired.aliases[p] in desired.recipients]
    found = desired.recipients_of([desired.aliases[p] for p in live])
    writes = {p: r.ids.get(record_kind) for p, r in zip(live, found, strict=True)}
    out: dict[str, str] = {}
    for p, record in own.items():
        if record != writes.get(p):
            out[p] = record
            continue
        held = desired.held_ids.get(desired.aliases[p], {}).get(record_kind, ())
        others = sorted(set(held) - {record} - set(own.values()))
        if others:
            out[p] = others[0]
    return out
