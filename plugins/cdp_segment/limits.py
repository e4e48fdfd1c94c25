"""Segment's documented limits, in one table read by the sink, the source and the emulator.

Sources: shared/facts/ads-segment-scheduling.md sections 3.1 (segment-analytics-python 2.4.0
source) and 3.2 (segment-docs ``src/unify/profile-api.md`` and ``profile-api-limits.md``).
"""

from __future__ import annotations

__all__ = [
    "MAX_BATCH_BYTES",
    "MAX_MESSAGE_BYTES",
    "PROFILE_API_CALLS",
    "PROFILE_API_TRAITS_PAGE",
    "PROFILE_API_WINDOW",
    "REGULATION_SUBJECTS",
]

# Tracking API: "≤32 KB per message" (SDK consumer.MAX_MSG_SIZE) and "servers only accept
# batches less than 500KB" (SDK comment next to BATCH_SIZE_LIMIT).
MAX_MESSAGE_BYTES = 32 << 10
MAX_BATCH_BYTES = 500 * 1000
# Profile API: "100 requests per second per space", over which it answers 429.
PROFILE_API_CALLS = 100
PROFILE_API_WINDOW = 1.0
# Profile API traits: ``limit`` up to 200 per page.
PROFILE_API_TRAITS_PAGE = 200
# Public API regulations: "You can delete up to 5000 userIds per call using the Public API"
# (segment-docs src/privacy/user-deletion-and-suppression.md).
REGULATION_SUBJECTS = 5000
