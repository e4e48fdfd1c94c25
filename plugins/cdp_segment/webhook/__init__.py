"""Segment's webhook destination, received: HTTP framing guards, the receiver, the spool."""

from cdp_segment.webhook.receiver import (
    MAX_BODY,
    WebhookLimits,
    WebhookReceiver,
    limits_from,
    serve,
    sign,
    spool_path,
)

__all__ = [
    "MAX_BODY",
    "WebhookLimits",
    "WebhookReceiver",
    "limits_from",
    "serve",
    "sign",
    "spool_path",
]
