"""Test support for the Klaviyo plugin: a spec checker, a change builder and a tiny apply driver.

The driver stands in for the core's apply engine until it lands: it chunks changes by
``sink.batch_size(kind)`` and keeps the learned ids like the identity store would.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from openapi_core import OpenAPI
from openapi_core.testing import MockRequest, MockResponse

from connector.emulator import Request, Response
from connector.plugin.changes import Change, ChangeKind, Outcome, Recipient, SegmentRef

REPO = Path(__file__).resolve().parents[3]
# The shared specs sit beside the checkout (``../shared``), as the project's README says.
SPECS = REPO.parent / "shared" / "specs" / "klaviyo" / "apis"

# (method, route template) → the operation's spec file (apis/<operationId>.json).
OPERATIONS = {
    ("GET", "/api/profiles"): "get_profiles",
    ("GET", "/api/events"): "get_events",
    ("GET", "/api/metrics"): "get_metrics",
    ("POST", "/api/profile-bulk-import-jobs"): "bulk_import_profiles",
    ("GET", "/api/profile-bulk-import-jobs/{job_id}"): "get_bulk_import_profiles_job",
    ("GET", "/api/profile-bulk-import-jobs/{job_id}/import-errors"): (
        "get_errors_for_bulk_import_profiles_job"
    ),
    ("GET", "/api/lists"): "get_lists",
    ("POST", "/api/lists"): "create_list",
    ("POST", "/api/lists/{list_id}/relationships/profiles"): "add_profiles_to_list",
    ("DELETE", "/api/lists/{list_id}/relationships/profiles"): "remove_profiles_from_list",
    ("GET", "/api/profiles/{id}"): "get_profile",
    ("PATCH", "/api/profiles/{id}"): "update_profile",
    ("GET", "/api/events/{id}"): "get_event",
    ("POST", "/api/events"): "create_event",
    ("GET", "/api/metrics/{id}"): "get_metric",
    ("GET", "/api/lists/{id}"): "get_list",
    ("GET", "/api/lists/{id}/profiles"): "get_profiles_for_list",
    ("GET", "/api/lists/{id}/relationships/profiles"): "get_profile_ids_for_list",
    ("GET", "/api/profile-bulk-import-jobs"): "get_bulk_import_profiles_jobs",
}


@cache
def _openapi(operation: str) -> Any:
    return OpenAPI.from_file_path(str(SPECS / f"{operation}.json"))


class SpecRecorder:
    """Wraps an emulator's dispatch to keep (operation, request, response) for validation."""

    def __init__(self, emulator: Any) -> None:
        self.seen: list[tuple[str, Request, Response]] = []
        inner = emulator.dispatch

        def dispatch(request: Request) -> tuple[Response, Any]:
            response, rule = inner(request)
            route, _, _ = emulator._match(request.method, request.path)
            if route is not None:
                op = OPERATIONS.get((route.method, route.template))
                if op:
                    self.seen.append((op, request, response))
            return response, rule

        emulator.dispatch = dispatch

    def validate(self) -> dict[str, int]:
        """Validate every captured response against its operation's spec; counts per op."""
        counts: dict[str, int] = {}
        for op, req, resp in self.seen:
            args = {k: v[0] for k, v in req.query.items()}
            mreq = MockRequest(
                "https://a.klaviyo.com",
                req.method.lower(),
                req.path.rstrip("/"),
                args=args,
                headers={"revision": "2026-07-15"},
                content_type="application/vnd.api+json",
            )
            body = resp.encode()
            mresp = MockResponse(
                body,
                resp.status,
                headers=resp.headers,
                content_type=resp.content_type if body else "application/vnd.api+json",
            )
            try:
                _openapi(op).validate_response(mreq, mresp)
            except Exception as exc:
                raise AssertionError(f"{op} {resp.status} violates the spec: {_why(exc)}") from exc
            counts[op] = counts.get(op, 0) + 1
        return counts


def _why(exc: BaseException) -> str:
    """The schema errors behind an openapi-core failure, with their JSON paths, briefly."""
    causes = []
    seen: BaseException | None = exc
    while seen is not None:
        for err in getattr(seen, "schema_errors", ()) or ():
            for leaf in [err, *getattr(err, "context", [])]:
                causes.append(f"{'/'.join(map(str, leaf.absolute_path))}: {leaf.message[:120]}")
        seen = seen.__cause__
    return "; ".join(dict.fromkeys(causes))[:2000] or repr(exc)[:500]


@dataclass
class Identities:
    """What the core's identity store would hold: learned Klaviyo ids per profile."""

    ids: dict[str, str] = field(default_factory=dict)

    def recipient(self, profile_id: str, email: str | None, phone: str | None = None) -> Recipient:
        ids = {"klaviyo_id": self.ids[profile_id]} if profile_id in self.ids else {}
        return Recipient(profile_id=profile_id, email=email, phone=phone, ids=ids)


def upsert(recipient: Recipient, traits: dict[str, Any], unset: Sequence[str] = ()) -> Change:
    digest = json.dumps(traits, sort_keys=True)
    return Change(
        ChangeKind.UPSERT,
        recipient,
        f"traits:{recipient.profile_id}",
        digest,
        traits=traits,
        unset=tuple(unset),
    )


def member(kind: ChangeKind, recipient: Recipient, segment: SegmentRef) -> Change:
    return Change(kind, recipient, f"{segment.id}:{recipient.profile_id}", "1", segment=segment)


def apply_all(
    sink: Any, changes: Iterable[Change], identities: Identities | None = None
) -> list[Outcome]:
    """Chunk consecutive changes of one kind by ``sink.batch_size`` and apply them in order."""
    outcomes: list[Outcome] = []
    batch: list[Change] = []

    def flush() -> None:
        if batch:
            result = list(sink.apply(list(batch)))
            assert len(result) == len(batch)
            outcomes.extend(result)
            if identities is not None:
                for change, outcome in zip(batch, result, strict=True):
                    if outcome.learned_ids.get("klaviyo_id"):
                        identities.ids[change.recipient.profile_id] = outcome.learned_ids[
                            "klaviyo_id"
                        ]
            batch.clear()

    for change in changes:
        if batch and (batch[0].kind != change.kind or len(batch) >= sink.batch_size(change.kind)):
            flush()
        batch.append(change)
    flush()
    return outcomes
