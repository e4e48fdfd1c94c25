"""Bulk profile import jobs: build payloads, pack them into jobs, poll, read per-profile errors.

Packing respects both documented job limits (10,000 profiles, 5 MB; facts 3.2) with the JSON
envelope counted. A trait that disappeared is removed with ``meta.patch_properties.unset``:
bulk import ignores ``null`` (it never clears a field). Errors are mapped back to the change
they belong to through the profile's position in the job (``source.pointer``).
"""

from __future__ import annotations

import json
import math
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from functools import partial
from typing import Any

from cdp_klaviyo.client import KlaviyoClient, next_cursor, pointed_item, refusal
from cdp_klaviyo.limits import IMPORT_MAX_BYTES, IMPORT_MAX_PROFILES, PAGE_SIZE
from connector.sdk import Recipient, RetryableError, SkippableError, bisect

__all__ = ["ImportResult", "ImportRunner", "pack_jobs", "profile_payload"]

_POINTER = re.compile(r"^/data/attributes/profiles/data/(\d+)")
_ENVELOPE = 512  # bytes of the job document around the profiles, plus list relationships
_SAFETY = 0.95  # stay clear of the 5 MB bound: the SDK's serialiser may space things out


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, tuple | set | frozenset):
        return [_jsonable(v) for v in value]
    return value


def profile_payload(
    recipient: Recipient, traits: Mapping[str, Any], unset: Sequence[str]
) -> dict[str, Any]:
    """One ``profile`` of a job, keyed by Klaviyo id when we know it, else by identifiers.

    A profile our import created, for a person whose address changed upstream (they have
    others), is sent its current address with the id: the import moves the profile to it,
    so the lists it is on follow the person. A profile Klaviyo's users keep is never
    re-addressed by us."""
    attrs: dict[str, Any] = {}
    klaviyo_id = recipient.ids.get("klaviyo_id")
    if klaviyo_id and recipient.readdressable("klaviyo_id"):
        attrs["email"] = recipient.email
    if not klaviyo_id:
        if recipient.email:
            attrs["email"] = recipient.email
        if recipient.phone:
            attrs["phone_number"] = recipient.phone
        if recipient.ids.get("external_id"):
            attrs["external_id"] = recipient.ids["external_id"]
        if not attrs:
            raise SkippableError("recipient has no Klaviyo id, email, phone or external id")
    properties = {k: _jsonable(v) for k, v in traits.items()}
    to_unset = sorted({*unset, *(k for k, v in properties.items() if v is None)})
    properties = {k: v for k, v in properties.items() if v is not None}
    if properties:
        attrs["properties"] = properties
    profile: dict[str, Any] = {"type": "profile", "attributes": attrs}
    if klaviyo_id:
        profile["id"] = klaviyo_id
    if to_unset:
        profile["meta"] = {"patch_properties": {"unset": to_unset}}
    return profile


Entry = tuple[int, dict[str, Any]]


def pack_jobs(payloads: Sequence[Entry]) -> list[list[Entry]]:
    """Split (index, payload) pairs into jobs under the profile count and byte limits."""
    jobs: list[list[Entry]] = []
    current: list[Entry] = []
    size = _ENVELOPE
    budget = int(IMPORT_MAX_BYTES * _SAFETY)
    for index, payload in payloads:
        cost = len(json.dumps(payload, separators=(",", ":")).encode()) + 1
        if current and (len(current) >= IMPORT_MAX_PROFILES or size + cost > budget):
            jobs.append(current)
            current, size = [], _ENVELOPE
        current.append((index, payload))
        size += cost
    if current:
        jobs.append(current)
    return jobs


@dataclass(slots=True)
class ImportResult:
    """Per input index: ``rejected`` (Klaviyo's reason) or ``retryable`` (gave up); else ok."""

    rejected: dict[int, str] = field(default_factory=dict)
    retryable: dict[int, str] = field(default_factory=dict)
    jobs: list[str] = field(default_factory=list)


@dataclass(slots=True)
class _Job:
    entries: list[tuple[int, dict[str, Any]]]
    job_id: str = ""
    status: str = "queued"
    failed: int = 0


class ImportRunner:
    def __init__(
        self,
        client: KlaviyoClient,
        *,
        poll_interval: float,
        job_timeout: float,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.client = client
        self.poll_interval = poll_interval
        self.job_timeout = job_timeout
        self.sleep = sleep

    def run(
        self, payloads: Sequence[tuple[int, dict[str, Any]]], list_ids: Sequence[str] = ()
    ) -> ImportResult:
        result = ImportResult()
        submitted: list[_Job] = []
        submit = partial(self._submit, list_ids, result)
        for entries in pack_jobs(payloads):
            # A refused job goes through the shared bisection: the profile it names is
            # rejected and the rest resent, or it is halved when it names none.
            done = bisect(entries, submit, locate=pointed_item(_POINTER))
            submitted.extend(job for _, job in done.accepted)
            result.rejected.update({entries[i][0]: refusal(e) for i, e in done.rejected.items()})
            result.retryable.update({entries[i][0]: str(e) for i, e in done.retryable.items()})
        self._poll(submitted, result)
        for job in submitted:
            if job.status == "complete" and job.failed:
                self._read_errors(job, result)
        return result

    def _submit(
        self, list_ids: Sequence[str], result: ImportResult, entries: Sequence[Entry]
    ) -> _Job:
        body: dict[str, Any] = {
            "data": {
                "type": "profile-bulk-import-job",
                "attributes": {"profiles": {"data": [p for _, p in entries]}},
            }
        }
        if list_ids:
            body["data"]["relationships"] = {
                "lists": {"data": [{"type": "list", "id": i} for i in list_ids]}
            }
        doc = self.client.call(
            "bulk_import", lambda: self.client.api.Profiles.bulk_import_profiles(body)
        )
        job = _Job(list(entries), job_id=str(doc["data"]["id"]))
        job.status = str(doc["data"]["attributes"]["status"])
        result.jobs.append(job.job_id)
        return job

    def _poll(self, jobs: list[_Job], result: ImportResult) -> None:
        deadline = time.monotonic() + self.job_timeout
        wait = self.poll_interval
        while True:
            open_jobs = [j for j in jobs if j.status not in ("complete", "cancelled")]
            if not open_jobs:
                return
            if time.monotonic() > deadline:
                for job in open_jobs:
                    reason = f"import job {job.job_id} still {job.status} at the timeout"
                    result.retryable.update({i: reason for i, _ in job.entries})
                    job.status = "abandoned"
                return
            for job in open_jobs:
                try:
                    get_job = self.client.api.Profiles.get_bulk_import_profiles_job
                    doc = self.client.call("bulk_import", partial(get_job, job.job_id))
                except (RetryableError, SkippableError) as exc:
                    result.retryable.update({i: str(exc) for i, _ in job.entries})
                    job.status = "abandoned"
                    continue
                attrs = doc["data"]["attributes"]
                job.status = str(attrs["status"])
                job.failed = int(attrs.get("failed_count") or 0)
                if job.status == "cancelled":
                    reason = f"import job {job.job_id} was cancelled"
                    result.retryable.update({i: reason for i, _ in job.entries})
            if any(j.status not in ("complete", "cancelled", "abandoned") for j in jobs):
                self.sleep(wait)
                wait = min(wait * 1.5, 5.0)

    def _read_errors(self, job: _Job, result: ImportResult) -> None:
        cursor: str | None = None
        while True:
            kwargs: dict[str, Any] = {"page_size": PAGE_SIZE["import_errors"]}
            if cursor:
                kwargs["page_cursor"] = cursor
            try:
                fetch = self.client.api.Profiles.get_errors_for_bulk_import_profiles_job
                doc = self.client.call("bulk_import", partial(fetch, job.job_id, **kwargs))
            except (RetryableError, SkippableError) as exc:
                failed = {i for i, _ in job.entries} - set(result.rejected)
                result.retryable.update({i: f"import errors unreadable: {exc}" for i in failed})
                return
            for error in doc.get("data") or []:
                attrs = error.get("attributes") or {}
                match = _POINTER.match(((attrs.get("source") or {}).get("pointer")) or "")
                if match and int(match.group(1)) < len(job.entries):
                    index = job.entries[int(match.group(1))][0]
                    result.rejected[index] = (
                        f"{attrs.get('code', 'invalid')}: {attrs.get('detail', '')}"
                    )
            cursor = next_cursor(doc)
            if cursor is None:
                return
