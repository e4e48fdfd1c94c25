"""HubSpot's GDPR delete, for people a privacy request erases.

``crm.contacts.basic_api.purge`` (``POST /crm/v3/objects/contacts/gdpr-delete``) deletes the
contact and its content permanently; named by email (``idProperty: email``), an address that
matches no contact is blocklisted instead, so asking twice is harmless. It answers 204.
"""

from __future__ import annotations

from collections.abc import Sequence

from cdp_hubspot.client import HubSpotClient
from connector.sdk import Outcome, Recipient, RetryableError, SkippableError

__all__ = ["gdpr_delete"]


def _target(recipient: Recipient) -> tuple[str, str | None] | None:
    if recipient.email:
        return recipient.email, "email"
    if hubspot_id := recipient.ids.get("hubspot_id"):
        return hubspot_id, None
    return None


def gdpr_delete(client: HubSpotClient, recipients: Sequence[Recipient]) -> list[Outcome]:
    from hubspot.crm.contacts import PublicGdprDeleteInput

    basic = client.sdk.crm.contacts.basic_api
    outcomes: list[Outcome] = []
    for recipient in recipients:
        target = _target(recipient)
        if target is None:
            outcomes.append(Outcome.ok())  # nothing HubSpot could know them by
            continue
        body = PublicGdprDeleteInput(object_id=target[0], id_property=target[1])

        def purge(body: PublicGdprDeleteInput = body) -> bool:
            basic.purge(public_gdpr_delete_input=body, **client.timeout)
            return True  # 204: the SDK returns None, which the client reads as unexpected

        try:
            client.call("contacts gdpr delete", purge)
        except RetryableError as exc:
            outcomes.append(Outcome.retryable(str(exc), exc.retry_after))
        except SkippableError as exc:
            outcomes.append(Outcome.rejected(f"HubSpot refused the GDPR delete: {exc.reason}"))
        else:
            outcomes.append(Outcome.ok())
    return outcomes
