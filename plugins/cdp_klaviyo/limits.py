"""Klaviyo's documented limits, in one table shared by the client budgets and the emulator.

Rate limits are per account in fixed burst (1 s) and steady (1 min) windows, per endpoint
(developers.klaviyo.com rate_limits_and_error_handling; the per-operation numbers are the
``x-klaviyo-ratelimit`` values of the OpenAPI spec revision 2026-07-15 and the SDK 25 docstrings,
see shared/facts/hubspot-klaviyo.md section 3).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "ENDPOINT_POLICIES",
    "IMPORT_MAX_BYTES",
    "IMPORT_MAX_PROFILES",
    "LIST_CREATE_PER_DAY",
    "LIST_MEMBERS_PER_CALL",
    "PAGE_SIZE",
    "EndpointPolicy",
]


@dataclass(frozen=True, slots=True)
class EndpointPolicy:
    """One rate-limit policy: ``burst`` requests per second and ``steady`` per minute."""

    name: str
    method: str | None
    path: str
    burst: int
    steady: int
    daily: int | None = None


# Order matters for the emulator: the first policy whose method and path glob match applies.
ENDPOINT_POLICIES: tuple[EndpointPolicy, ...] = (
    # get_profiles: L tier, 75/s 750/m.
    EndpointPolicy("profiles_read", "GET", "/api/profiles*", 75, 750),
    # get_events: XL tier, 350/s 3,500/m.
    EndpointPolicy("events_read", "GET", "/api/events*", 350, 3500),
    # get_metrics: M tier, 10/s 150/m.
    EndpointPolicy("metrics_read", "GET", "/api/metrics*", 10, 150),
    # bulk_import_profiles, the job, its errors and profiles: M tier, 10/s 150/m.
    EndpointPolicy("bulk_import", None, "/api/profile-bulk-import-jobs*", 10, 150),
    # create_list: M tier plus a daily cap of 150 lists.
    EndpointPolicy("list_create", "POST", "/api/lists", 10, 150, daily=150),
    # add/remove profiles on a list: M tier, 10/s 150/m.
    EndpointPolicy("list_members", None, "/api/lists/*/relationships/profiles", 10, 150),
    # create_event: XL tier, 350/s 3,500/m.
    EndpointPolicy("events_write", "POST", "/api/events", 350, 3500),
    # update_profile: L tier, 75/s 750/m.
    EndpointPolicy("profile_update", "PATCH", "/api/profiles/*", 75, 750),
    # merge_profiles: M tier, 10/s 150/m (spec merge_profiles).
    EndpointPolicy("profile_merge", "POST", "/api/profile-merge", 10, 150),
    # get_lists and members: L tier, 75/s 750/m.
    EndpointPolicy("lists_read", "GET", "/api/lists*", 75, 750),
)

# Bulk profile import: at most 10,000 profiles and 5 MB per job (bulk import guide).
IMPORT_MAX_PROFILES = 10_000
IMPORT_MAX_BYTES = 5 * 1024 * 1024
# add_profiles_to_list / remove_profiles_from_list: at most 1,000 profile ids per call.
LIST_MEMBERS_PER_CALL = 1_000
LIST_CREATE_PER_DAY = 150
# page[size] caps per endpoint (spec parameters): profiles 100, events 1000, lists 10.
PAGE_SIZE = {
    "profiles": 100,
    "events": 1000,
    "lists": 10,
    "import_errors": 100,
    "list_members": 100,  # get_profiles_for_list / get_profile_ids_for_list
    "import_jobs": 100,
}
