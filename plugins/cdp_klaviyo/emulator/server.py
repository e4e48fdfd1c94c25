"""A local Klaviyo: the JSON:API endpoints the connector uses, with the documented limits.

Requests need ``Authorization: Klaviyo-API-Key pk_...`` and a valid ``revision`` header (every
operation in the spec declares it required; see ``revision`` for how Klaviyo refuses a bad
one). Besides the collections the connector pages, the emulator serves the SDK's reads of the
same resources by id (``reads``) and the writes that change an account while it is read:
late events, profile edits and merges (``writes``). Errors are JSON:API documents; 429s carry an
integer ``Retry-After`` (the SDK parses it with ``int()``, facts 3.4).
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterable
from typing import Any

from cdp_klaviyo.emulator import imports
from cdp_klaviyo.emulator.consent import consent_routes
from cdp_klaviyo.emulator.jsonapi import (
    PUBLIC_HOST,
    FilterError,
    decode_cursor,
    encode_cursor,
    error_body,
    iso,
    page_links,
    parse_filter,
)
from cdp_klaviyo.emulator.lists import ListRoutes
from cdp_klaviyo.emulator.privacy import request_profile_deletion
from cdp_klaviyo.emulator.reads import JSONAPI, read_routes
from cdp_klaviyo.emulator.reads import ok as _ok
from cdp_klaviyo.emulator.resources import (
    event_resource,
    job_resource,
    metric_resource,
    profile_resource,
)
from cdp_klaviyo.emulator.revision import check_revision
from cdp_klaviyo.emulator.seed import seed_events, seed_metrics, seed_people, seed_profiles
from cdp_klaviyo.emulator.store import KlaviyoStore
from cdp_klaviyo.emulator.writes import delete_profiles, write_routes
from cdp_klaviyo.limits import ENDPOINT_POLICIES, PAGE_SIZE
from connector.sdk import EmulatorOptions, EmulatorServer, RateLimit, RateLimiter, Request, Response

__all__ = ["KlaviyoEmulator"]

EVENTS_PER_PROFILE = 10
_CODES = {
    400: ("invalid", "Invalid input."),
    401: ("not_authenticated", "Authentication credentials were not provided."),
    403: ("permission_denied", "You do not have permission to perform this action."),
    404: ("not_found", "Not found."),
    405: ("method_not_allowed", "Method not allowed."),
    409: ("conflict", "Conflict."),
    410: ("gone", "Gone."),
    429: ("throttled", "Request was throttled."),
}


class KlaviyoEmulator(ListRoutes, EmulatorServer):
    platform = "klaviyo"

    def __init__(self, options: EmulatorOptions | None = None) -> None:
        super().__init__(options)
        self.rng = random.Random(self.options.seed)
        self.store = KlaviyoStore()
        seed_metrics(self.store)
        if self.options.seed_profiles:
            seed_profiles(self.store, self.rng, self.options.seed_profiles)
            seed_events(self.store, self.rng, self.options.seed_profiles * EVENTS_PER_PROFILE)

    # ---- base-class hooks -----------------------------------------------------------------
    def register_routes(self) -> None:
        self.routes(
            [
                ("GET", "/api/profiles", self._get_profiles),
                ("GET", "/api/events", self._get_events),
                ("GET", "/api/metrics", self._get_metrics),
                ("POST", "/api/profile-bulk-import-jobs", self._post_job),
                ("GET", "/api/profile-bulk-import-jobs/{job_id}", self._get_job),
                ("GET", "/api/profile-bulk-import-jobs/{job_id}/import-errors", self._job_errors),
                ("GET", "/api/lists", self._get_lists),
                ("POST", "/api/lists", self._create_list),
                ("POST", "/api/lists/{list_id}/relationships/profiles", self._add_members),
                ("DELETE", "/api/lists/{list_id}/relationships/profiles", self._remove_members),
                *read_routes(self),
                *write_routes(self),
                *consent_routes(self),
                ("POST", "/api/data-privacy-deletion-jobs", self._privacy_deletion),
            ]
        )

    def rate_limits(self) -> list[RateLimit]:
        limits: list[RateLimit] = []
        for p in ENDPOINT_POLICIES:
            limits.append(RateLimit(f"{p.name}:burst", p.burst, 1.0, p.path, p.method))
            limits.append(RateLimit(f"{p.name}:steady", p.steady, 60.0, p.path, p.method))
            if p.daily:
                limits.append(RateLimit(f"{p.name}:daily", p.daily, 86400.0, p.path, p.method))
        return limits

    def authenticate(self, request: Request) -> Response | None:
        auth = request.header("authorization") or ""
        scheme, _, key = auth.partition(" ")
        if scheme != "Klaviyo-API-Key" or not key.startswith("pk_"):
            return self.error_response(401, "Missing or invalid private key.")
        refusal = check_revision(request.header("revision"))
        if refusal is not None:
            return self.error_response(
                refusal.status, refusal.detail, code=refusal.code, parameter="revision"
            )
        return None

    def error_response(self, status: int, message: str, **extra: Any) -> Response:
        code, title = _CODES.get(status, ("error", "A server error occurred."))
        body = error_body(status, extra.pop("code", code), title, message, **extra)
        return Response(status, body, content_type=JSONAPI)

    def rate_limited_response(self, limit: RateLimit, retry_after: float) -> Response:
        seconds = RateLimiter.whole_seconds(retry_after)
        unit = "second" if seconds == 1 else "seconds"
        resp = self.error_response(
            429, f"Request was throttled. Expected available in {seconds} {unit}."
        )
        resp.headers["Retry-After"] = str(seconds)
        return resp

    def snapshot(self) -> dict[str, Any]:
        s = self.store
        counts: dict[str, int] = {}
        for e in s.events.values():
            counts[e["metric_id"]] = counts.get(e["metric_id"], 0) + 1
        return {
            "profiles": {
                pid: {k: p.get(k) for k in ("email", "phone_number", "external_id", "properties")}
                | {"updated": iso(p["updated"])}
                for pid, p in s.profiles.items()
            },
            "lists": {
                lid: {"name": lst["name"], "members": sorted(lst["members"])}
                for lid, lst in s.lists.items()
            },
            "jobs": {
                jid: {k: v for k, v in job.items() if k != "pending"} for jid, job in s.jobs.items()
            },
            "metrics": {mid: m["name"] for mid, m in s.metrics.items()},
            "privacy_deletions": list(s.deletion_jobs),
            "events": {"total": len(s.events), "by_metric": counts},
        }

    def seed(self, payload: dict[str, Any]) -> dict[str, Any]:
        """Admin seeding: ``profiles``, ``events``, ``update_profiles`` (touch N existing),
        ``new_events`` (recent activity), ``refuse_emails`` (the import rejects them), ``people``
        (explicit profiles, see ``seed_people``) and ``delete_profiles`` (ids; see
        ``writes.delete_profiles`` for why deletion is a test hook)."""
        s = self.store
        added = seed_profiles(s, self.rng, int(payload.get("profiles", 0)))
        events = seed_events(s, self.rng, int(payload.get("events", 0)))
        touched = self._touch(int(payload.get("update_profiles", 0)))
        now = time.time()
        events += seed_events(s, self.rng, int(payload.get("new_events", 0)), at=now)
        s.refused_emails |= {str(e).lower() for e in payload.get("refuse_emails", [])}
        people = seed_people(s, list(payload.get("people", [])), now)
        deleted = self.delete_profiles([str(i) for i in payload.get("delete_profiles", [])])
        return {
            "profiles": len(added) + len(people),
            "updated": len(touched),
            "events": events,
            "deleted": deleted,
        }

    def delete_profiles(self, ids: Iterable[str]) -> int:
        """Delete profiles as a data-privacy deletion job would (a test hook, see writes)."""
        with self.lock:
            return delete_profiles(self.store, list(ids))

    def reset(self) -> None:
        self.store = KlaviyoStore()
        seed_metrics(self.store)

    def _touch(self, count: int) -> list[str]:
        pids = self.rng.sample(sorted(self.store.profiles), min(count, len(self.store.profiles)))
        now = float(int(time.time()))
        for pid in pids:
            profile = dict(self.store.profiles[pid])
            profile["first_name"] = f"{profile.get('first_name') or ''}".rstrip("*") + "*"
            profile["updated"] = now
            self.store.put_profile(profile)
        return pids

    # ---- reads ----------------------------------------------------------------------------
    def page_size(self, request: Request, kind: str, default: int) -> int:
        raw = request.arg("page[size]")
        if raw is None:
            return default
        try:
            size = int(raw)
        except ValueError:
            raise FilterError("page[size] must be an integer", "page[size]") from None
        if not 1 <= size <= PAGE_SIZE[kind]:
            raise FilterError(f"page[size] must be between 1 and {PAGE_SIZE[kind]}", "page[size]")
        return size

    def _bad(self, exc: FilterError) -> Response:
        return self.error_response(400, exc.detail, parameter=exc.parameter)

    def _get_profiles(self, request: Request) -> Response:
        try:
            size = self.page_size(request, "profiles", 20)
            sort = request.arg("sort") or "id"
            query = self.store.profile_query(parse_filter(request.arg("filter")), sort)
            cursor = request.arg("page[cursor]")
            after = decode_cursor(cursor, sort) if cursor else None
        except FilterError as exc:
            return self._bad(exc)
        page, last = self.store.page_profiles(query, after, size)
        extra = (request.arg("additional-fields[profile]") or "").split(",")
        data = [profile_resource(p, subscriptions="subscriptions" in extra) for p in page]
        nxt = encode_cursor(sort, last) if last else None
        return _ok({"data": data, "links": page_links("/api/profiles", request.query, nxt)})

    def _get_events(self, request: Request) -> Response:
        try:
            size = self.page_size(request, "events", 200)
            sort = request.arg("sort") or "datetime"
            query, metric_id = self.store.event_query(parse_filter(request.arg("filter")), sort)
            cursor = request.arg("page[cursor]")
            after = decode_cursor(cursor, sort) if cursor else None
        except FilterError as exc:
            return self._bad(exc)
        page, last = self.store.page_events(query, metric_id, after, size)
        body: dict[str, Any] = {"data": [event_resource(e) for e in page]}
        include = (request.arg("include") or "").split(",")
        included: list[dict[str, Any]] = []
        if "profile" in include:
            pids = dict.fromkeys(e["profile_id"] for e in page)
            included += [
                profile_resource(self.store.profiles[p]) for p in pids if p in self.store.profiles
            ]
        if "metric" in include:
            mids = dict.fromkeys(e["metric_id"] for e in page)
            included += [metric_resource(self.store.metrics[m]) for m in mids]
        if included:
            body["included"] = included
        nxt = encode_cursor(sort, last) if last else None
        body["links"] = page_links("/api/events", request.query, nxt)
        return _ok(body)

    def _get_metrics(self, request: Request) -> Response:
        try:
            terms = parse_filter(request.arg("filter"))
        except FilterError as exc:
            return self._bad(exc)
        metrics = sorted(self.store.metrics.values(), key=lambda m: m["id"])
        for term in terms:
            if term.op != "equals" or term.field not in (
                "integration.name",
                "integration.category",
            ):
                return self._bad(FilterError(f"Unsupported filter {term.op}({term.field})"))
            key = term.field.split(".")[1]
            metrics = [m for m in metrics if m["integration"].get(key) == term.value]
        data = [metric_resource(m) for m in metrics[:200]]
        return _ok({"data": data, "links": page_links("/api/metrics", request.query, None)})

    # ---- bulk import jobs -----------------------------------------------------------------
    def _post_job(self, request: Request) -> Response:
        try:
            job = imports.create_job(self.store, request.json(), len(request.body))
        except imports.ImportRefusedError as exc:
            return self.error_response(400, exc.detail, pointer=exc.pointer)
        return _ok(
            {
                "data": job_resource(job),
                "links": {"self": f"{PUBLIC_HOST}/api/profile-bulk-import-jobs/"},
            },
            202,
        )

    def _job(self, request: Request) -> dict[str, Any] | None:
        return self.store.jobs.get(request.params["job_id"])

    def _get_job(self, request: Request) -> Response:
        job = self._job(request)
        if job is None:
            return self.error_response(404, "Job not found.")
        imports.advance_job(self.store, job)
        resource = job_resource(job)
        return _ok({"data": resource, "links": resource["links"]})

    def _job_errors(self, request: Request) -> Response:
        job = self._job(request)
        if job is None:
            return self.error_response(404, "Job not found.")
        try:
            size = self.page_size(request, "import_errors", 20)
            cursor = request.arg("page[cursor]")
            start = int(decode_cursor(cursor, "index")[0]) if cursor else 0
        except FilterError as exc:
            return self._bad(exc)
        errors = job["errors"][start : start + size]
        data = [
            {"type": "import-error", "id": f"{job['id']}-{start + i}", "attributes": err}
            for i, err in enumerate(errors)
        ]
        end = start + len(errors)
        nxt = encode_cursor("index", (end, "")) if end < len(job["errors"]) else None
        path = f"/api/profile-bulk-import-jobs/{job['id']}/import-errors"
        return _ok({"data": data, "links": page_links(path, request.query, nxt)})

    def _privacy_deletion(self, request: Request) -> Response:
        return request_profile_deletion(self, request)
