"""What one webhook request carries, and whether Segment signed all of it.

Two senders reach the receiver:
- the classic Webhooks destination POSTs one message per request, signed with
  ``X-Signature: hex(HMAC-SHA1(secret, body))`` (segment-docs ``catalog/webhooks``);
- Webhooks (Actions) POSTs one message, or, with batching on, a JSON array of messages (the
  mapping's ``data``, the whole event by default; ``performBatch`` sends
  ``json: payload.map(({ data }) => data)``), up to 4,000 per request, 1,000 by default
  (segmentio/action-destinations ``packages/destination-actions/src/destinations/webhook/``
  ``send/index.ts``; segment-docs ``catalog/actions-webhook``).

Actions signs in one of two ways (``webhook/index.ts`` ``extendRequest``): with "Use
X-Segment-Signature Header" on, ``X-Segment-Signature`` is the HMAC-SHA1 of the whole body sent,
batch included; otherwise ``X-Signature`` is the HMAC of the *first event only* of a batch, which
leaves every other message of the array unauthenticated. We verify one thing only: an HMAC of
the whole raw body, in either header. A batch signed the legacy way therefore fails, and the
answer says which destination setting to turn on; trusting its first-event signature would let
anyone who saw one signed event append messages of their own.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass, field
from typing import Any

from connector.sdk import message_id

__all__ = ["MAX_BATCH", "Delivery", "DeliveryError", "parse_delivery", "sign", "signature_error"]

MAX_BATCH = 4000  # the largest batch size a Webhooks (Actions) mapping accepts

_LEGACY_BATCH = (
    "a batched delivery must be signed over the whole body: turn on 'Use X-Segment-Signature "
    "Header' in the Webhooks (Actions) destination settings (its X-Signature signs only the "
    "first event of a batch)"
)


def sign(secret: bytes, body: bytes) -> str:
    """The signature Segment sends: hex HMAC-SHA1 of the raw body."""
    return hmac.new(secret, body, hashlib.sha1).hexdigest()


def signature_error(
    secret: bytes, body: bytes, x_signature: str | None, segment_signature: str | None
) -> str | None:
    """None when either header holds the HMAC of the whole body, else why the request fails."""
    expected = sign(secret, body).encode()
    for given in (segment_signature, x_signature):
        candidate = (given or "").strip().lower().encode("utf-8", "replace")
        if candidate and hmac.compare_digest(candidate, expected):
            return None
    if x_signature and not segment_signature and body.lstrip()[:1] == b"[":
        return _LEGACY_BATCH
    return "invalid or missing X-Signature (or X-Segment-Signature)"


class DeliveryError(Exception):
    """The request as a whole cannot be taken: ``status`` and a message for the sender."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(slots=True)
class Delivery:
    """Messages to store, as (messageId, body to spool, message), and the refused entries."""

    batched: bool
    messages: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)
    rejected: list[dict[str, Any]] = field(default_factory=list)


def _is_message(value: Any) -> bool:
    return isinstance(value, dict) and isinstance(value.get("type"), str)


def parse_delivery(body: bytes, *, max_batch: int = MAX_BATCH) -> Delivery:
    """The messages of an authenticated body: one object, or an array of up to ``max_batch``.

    In a batch, an entry that is not a Segment message is refused alone (listed with its index
    in the answer) and the others are stored: answering 4xx for the whole array would lose
    every good message with it, since Segment does not retry a refused request.
    """
    try:
        parsed = json.loads(body)
    except ValueError:
        raise DeliveryError(400, "body is not JSON") from None
    if isinstance(parsed, dict):
        if not _is_message(parsed):
            raise DeliveryError(400, "body is not a Segment message")
        mid = message_id(parsed, body)
        return Delivery(False, [(mid, body.decode("utf-8", "replace"), parsed)])
    if not isinstance(parsed, list):
        raise DeliveryError(400, "body is neither a Segment message nor an array of them")
    if not parsed:
        raise DeliveryError(400, "the batch is empty")
    if len(parsed) > max_batch:
        raise DeliveryError(
            413,
            f"the batch holds {len(parsed)} messages, more than {max_batch}: lower 'Batch Size' "
            "in the Webhooks (Actions) mapping, or raise webhook_max_batch",
        )
    delivery = Delivery(True)
    for index, entry in enumerate(parsed):
        if not _is_message(entry):
            delivery.rejected.append({"index": index, "error": "not a Segment message"})
            continue
        line = json.dumps(entry, separators=(",", ":"))
        delivery.messages.append((message_id(entry, line), line, entry))
    if not delivery.messages:
        raise DeliveryError(400, "no entry of the batch is a Segment message")
    return delivery
