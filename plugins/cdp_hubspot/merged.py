"""Changes about a merged-away profile's own HubSpot contact (``Change.merged_away``).

When our graph merges two people who each have a HubSpot contact, the merged-away contact
leaves our lists and our properties on it are cleared (``PlatformRecords``). HubSpot can merge
contacts itself too; a merged-away id then reads as the merged contact (HubSpot "Merge
records"; ``cdp_hubspot.reconcile``), which the survivor holds with its lists and properties.
So such a change acts on the contact by its id alone (the recipient's address is the
survivor's) and only while HubSpot reads the id as itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from cdp_hubspot.client import HubSpotApiError, HubSpotClient
from connector.sdk import Change, Outcome, RetryableError

__all__ = ["own_records"]


def own_records(
    client: HubSpotClient, changes: Sequence[Change], outcomes: list[Outcome | None]
) -> Sequence[Change]:
    """``changes`` with each merged-away one addressed by record id alone; one whose contact
    HubSpot reads as another (merged at HubSpot) or no longer holds is done, in ``outcomes``:
    the merged contact is the survivor's, and a contact gone has nothing to take back."""
    away = [i for i, c in enumerate(changes) if c.merged_away]
    if not away:
        return changes
    try:
        itself = reads_as_itself(client, [_record_id(changes[i]) for i in away])
    except (RetryableError, HubSpotApiError) as exc:  # the others still go
        for i in away:
            outcomes[i] = (
                Outcome.retryable(str(exc), exc.retry_after)
                if isinstance(exc, RetryableError)
                else Outcome.rejected(f"HubSpot {exc.status}: {exc}")
            )
        return changes
    out = list(changes)
    for i in away:
        change = changes[i]
        if _record_id(change) not in itself:
            outcomes[i] = Outcome.ok()
            continue
        alone = replace(change.recipient, email=None, other_emails=())
        out[i] = replace(change, recipient=alone)
    return out


def reads_as_itself(client: HubSpotClient, record_ids: list[str]) -> set[str]:
    """The ids among ``record_ids`` HubSpot reads as the same contact (batch read by id)."""
    wanted = sorted({r for r in record_ids if r})
    return {str(row.id) for row in client.read_contacts(wanted)} & set(wanted)


def _record_id(change: Change) -> str:
    return str(change.recipient.ids.get("hubspot_id") or "")
