"""HubSpot's documented limits, in one table read by the client, the sink and the emulator.

Facts §2.6 (usage-guidelines page): private apps get 100 (Free/Starter) or 190
(Professional/Enterprise) requests per rolling 10 s, and 250k / 625k / 1M per day; the search
API has its own limit of 5 requests per second per account and is not counted in the
ten-secondly bucket. Facts §2.1-§2.4 (CRM search, batch and lists guides) give the page and
batch sizes.
"""

from __future__ import annotations

__all__ = [
    "BATCH_INPUTS",
    "DAILY_ENTERPRISE",
    "LIST_MEMBER_PAGE_MAX",
    "OBJECT_PAGE_MAX",
    "REQUESTS_PER_10S_FREE",
    "REQUESTS_PER_10S_PRO",
    "SEARCH_CAP",
    "SEARCH_PAGE_MAX",
    "SEARCH_PER_SECOND",
]

# Ten-secondly rolling bucket of a private app: Free/Starter and Professional/Enterprise.
REQUESTS_PER_10S_FREE = 100
REQUESTS_PER_10S_PRO = 190
# Search has its own SECONDLY bucket per account.
SEARCH_PER_SECOND = 5
# Daily requests of an Enterprise portal (the emulator's default).
DAILY_ENTERPRISE = 1_000_000
# Search pages past 10,000 results are a 400; a search page holds at most 200 results.
SEARCH_CAP = 10_000
SEARCH_PAGE_MAX = 200
# batch/read, batch/upsert and batch/update take at most 100 inputs, without duplicate ids.
BATCH_INPUTS = 100
# GET /crm/v3/objects/{type} pages hold at most 100 records; list member pages at most 250.
OBJECT_PAGE_MAX = 100
LIST_MEMBER_PAGE_MAX = 250
