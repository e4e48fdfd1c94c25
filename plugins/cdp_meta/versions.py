"""Marketing API versions: the default we send and when each version stops answering.

Dates from Meta's version table (developers.facebook.com/docs/marketing-api/
marketing-api-changelog/versions, read 2026-12-01; FACTS.md "December 2026 updates"). A
version whose date has passed answers ``(#2635) You are calling a deprecated version of the Ads
API`` (developers.facebook.com/blog/post/2024/04/16/upcoming-change-in-marketing-api-version-
deprecation); Meta may instead auto-upgrade calls to endpoints a release did not change, unless
the app opted out, so an expired version is never something to rely on.
"""

from __future__ import annotations

import re
from datetime import date, timedelta

__all__ = [
    "DEFAULT_VERSION",
    "EXPIRES",
    "LATEST_VERSION",
    "VERSION_PATTERN",
    "expired",
    "expiry_warning",
]

# v26.0: released 2026-07-29, the facebook-business SDK's own default (26.0.3); Meta's table
# still says "TBD" for its expiry (v23-v25 each lived about 13 months, so expect autumn 2027).
# v25.0 was the alternative, but it expires 2027-02-23, under three months from now.
DEFAULT_VERSION = "v26.0"
LATEST_VERSION = "v27.0"  # released 2026-11-04

VERSION_PATTERN = re.compile(r"^v(\d+)\.0$")

# None: released, expiry not announced yet.
EXPIRES: dict[str, date | None] = {
    "v21.0": date(2025, 9, 9),
    "v22.0": date(2026, 2, 19),
    "v23.0": date(2026, 6, 9),
    "v24.0": date(2026, 11, 10),
    "v25.0": date(2027, 2, 23),
    "v26.0": None,
    "v27.0": None,
}
_OLDEST_LISTED = 21


def expired(version: str, today: date) -> bool:
    """Whether Meta refuses ``version`` on ``today`` (older than the table: long expired)."""
    if version in EXPIRES:
        until = EXPIRES[version]
        return until is not None and today >= until
    found = VERSION_PATTERN.match(version)
    return found is not None and int(found.group(1)) < _OLDEST_LISTED


def expiry_warning(version: str, today: date, *, within_days: int = 45) -> str | None:
    """A sentence for the log when ``version`` has expired or expires within ``within_days``."""
    if expired(version, today):
        return f"Meta Marketing API {version} has expired; set api_version to {DEFAULT_VERSION}"
    until = EXPIRES.get(version)
    if until is not None and until - today <= timedelta(days=within_days):
        return f"Meta Marketing API {version} expires on {until.isoformat()}; plan the upgrade"
    return None
