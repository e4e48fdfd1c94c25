"""Google's Customer Match limits, in one table read by the sink, the settings and the emulator.

Sources: shared/facts/ads-segment-scheduling.md sections 2.3 and 2.4 (Data Manager and Google
Ads API references, the ``OfflineUserDataJobError`` and ``UserListError`` enum docstrings).
"""

from __future__ import annotations

__all__ = [
    "ADS_API_CALLS",
    "ADS_API_WINDOW",
    "DATA_MANAGER_CALLS",
    "DATA_MANAGER_WINDOW",
    "LIFE_SPAN_MAX_DAYS",
    "LIST_NAME_MAX",
    "MEMBERS_PER_REQUEST",
    "UNLIMITED_LIFE_SPAN",
]

# Data Manager quotas are per Cloud project and not in our facts: we pace well under them, and
# the emulator enforces the same pace so a run that exceeds it is caught in tests.
DATA_MANAGER_CALLS = 300
DATA_MANAGER_WINDOW = 60.0
# Google Ads API (user list search and create): a Basic-access developer token has a daily
# operations quota; a few calls per run are far under it, and one call a second keeps bursts
# polite (the per-minute figure is not in our facts; the emulator does not limit these calls).
ADS_API_CALLS = 60
ADS_API_WINDOW = 60.0
# audienceMembers per ingest/remove request: at most 10,000 (the REST reference; Google staff
# advise about 10,000 identifiers per call).
MEMBERS_PER_REQUEST = 10_000
# Customer Match membership life span: 0..540 days, or 10000 for "no expiry" (section 2.3).
LIFE_SPAN_MAX_DAYS = 540
UNLIMITED_LIFE_SPAN = 10_000
# User list names longer than this are refused with userListError INVALID_NAME.
LIST_NAME_MAX = 255
