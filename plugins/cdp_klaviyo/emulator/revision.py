"""The ``revision`` header check of the Klaviyo emulator.

Klaviyo versions its API by date: "Revisions are formatted as ISO 8601 dates ... passed using
the HTTP request header, revision", "the revision passed in must be a valid revision", and each
revision is supported for two years, after which it is retired
(developers.klaviyo.com/en/docs/api_versioning_and_deprecation_policy). Beta revisions carry a
``.pre`` suffix. Observed answers of the live API, written down by integrators: a malformed
revision is refused with 400; a future date with 404 "Unable to specify a future revision
date" (a Klaviyo integration's notes of 2026-08-09, found via find_string); a retired revision
answers 410 (shared/FACTS.md, December 2026 updates).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime

__all__ = ["RevisionRefusal", "check_revision"]

_FORMAT = re.compile(r"^(\d{4})-(\d{2})-(\d{2})(\.pre)?$")
SUPPORT_YEARS = 2


@dataclass(frozen=True, slots=True)
class RevisionRefusal:
    status: int
    code: str
    detail: str


def check_revision(value: str | None, today: date | None = None) -> RevisionRefusal | None:
    """None when ``value`` is a revision Klaviyo serves today, else how it refuses it."""
    if not value:
        return RevisionRefusal(400, "invalid", "Missing required header: revision.")
    match = _FORMAT.match(value.strip())
    when: date | None = None
    if match:
        try:
            when = date(int(match[1]), int(match[2]), int(match[3]))
        except ValueError:
            when = None
    if when is None:
        detail = f"Invalid revision format: {value[:40]!r}. Use a date such as 2026-10-15."
        return RevisionRefusal(400, "invalid", detail)
    today = today or datetime.now(UTC).date()
    if when > today:
        return RevisionRefusal(404, "not_found", "Unable to specify a future revision date.")
    try:
        retired = when.replace(year=when.year + SUPPORT_YEARS) < today
    except ValueError:  # 29 February
        retired = when.replace(year=when.year + SUPPORT_YEARS, day=28) < today
    if retired:
        detail = f"Revision {value.strip()} has been retired. Upgrade to a supported revision."
        return RevisionRefusal(410, "gone", detail)
    return None
