"""Meta's documented Custom Audiences limits, in one table read by the sink and the emulator.

Sources: shared/facts/ads-segment-scheduling.md section 1.3 (Graph API Custom Audiences and
rate-limiting pages; the DELETE overflow from facebook-python-business-sdk #279/#367).
"""

from __future__ import annotations

__all__ = [
    "CUSTOM_AUDIENCE_CALLS",
    "CUSTOM_AUDIENCE_WINDOW",
    "REMOVE_ROWS_ADVISED",
    "USERS_PER_REQUEST",
]

# Business Use Case limit, custom_audience type, standard tier: 5,000 + 40 x active custom
# audiences per hour. We budget (and the emulator enforces) the floor, 5,000 calls an hour.
CUSTOM_AUDIENCE_CALLS = 5_000
CUSTOM_AUDIENCE_WINDOW = 3_600.0
# "Up to 10,000 users per request" on /users and /usersreplace.
USERS_PER_REQUEST = 10_000
# DELETE carries its rows in the URL: chunks of about 1,000 rows avoid the 414s and broken
# pipes reported above 1,500-2,000 rows.
REMOVE_ROWS_ADVISED = 1_000
