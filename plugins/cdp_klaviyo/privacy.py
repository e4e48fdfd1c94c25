"""Klaviyo's Request Profile Deletion, for people a privacy request erases.

One job per person, naming one identifier (the API refuses several): the email, else the phone,
else the Klaviyo profile id we learned (developers.klaviyo.com/en/reference/
request_profile_deletion). Klaviyo deletes every matching profile asynchronously and answers
202; a second request for a person already deleted matches nothing and is accepted too.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial

from cdp_klaviyo.client import KlaviyoClient
from connector.sdk import Outcome, Recipient, RetryableError, SkippableError

__all__ = ["request_deletions"]


def _identifier(recipient: Recipient) -> dict[str, str] | None:
    if recipient.email:
        return {"email": recipient.email}
    if recipient.phone:
        return {"phone_number": recipient.phone}
    if klaviyo_id := recipient.ids.get("klaviyo_id"):
        return {"id": klaviyo_id}
    return None


def request_deletions(client: KlaviyoClient, recipients: Sequence[Recipient]) -> list[Outcome]:
    outcomes: list[Outcome] = []
    for recipient in recipients:
        ident = _identifier(recipient)
        if ident is None:
            outcomes.append(Outcome.ok())  # nothing Klaviyo could know them by
            continue
        body = {
            "data": {
                "type": "data-privacy-deletion-job",
                "attributes": {"profile": {"data": {"type": "profile", "attributes": ident}}},
            }
        }
        call = partial(client.api.Data_Privacy.request_profile_deletion, body)
        try:
            client.call("privacy_deletion", call)
        except RetryableError as exc:
            outcomes.append(Outcome.retryable(str(exc), exc.retry_after))
        except SkippableError as exc:
            outcomes.append(Outcome.rejected(f"Klaviyo refused the deletion: {exc.reason}"))
        else:
            outcomes.append(Outcome.ok())
    return outcomes
