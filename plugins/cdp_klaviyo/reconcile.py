"""Finding profiles deleted in Klaviyo: a periodic reconciliation of profile ids.

Klaviyo's API lists only live profiles and has no feed of deletions: a profile removed by a
data-privacy deletion job, or merged away (``merge_profiles`` "deletes the source profile in the
process", spec merge_profiles; no read operation returns past merges), simply stops appearing.
So the source keeps the ids it has yielded (``connector.sdk.KnownIds``); every
``profile_reconcile_hours`` it lists every live id and turns each known id that is gone into a
tombstone (``{"source_id": X, "deleted": True}``), re-emitted for a week. Klaviyo ids are never
reused, so a merge cannot be told apart from a deletion: a merged-away profile becomes a
tombstone too, and the person lives on in the destination profile.
"""

from __future__ import annotations

from connector.sdk import KeyValueState, KnownIds

__all__ = ["profile_ledger"]


def profile_ledger(state: KeyValueState) -> KnownIds:
    """The profile ids this source has yielded, from its plugin state."""
    return KnownIds.load(state, "profiles.ledger")
