"""Segment's Public API deletion and suppression regulations, emulated.

Per the Public API reference (docs.segmentapis.com, tag "Deletion and Suppression";
segmentio/public-api-sdk-python ``docs/DeletionAndSuppressionApi.md``): ``POST /regulations``
(workspace) and ``POST /regulations/sources/{sourceId}`` (one source) take a Bearer token and
``{"regulationType", "subjectType": "USER_ID", "subjectIds": [...]}`` (at most 5,000 userIds per
call, segment-docs src/privacy/user-deletion-and-suppression.md) and answer 200
``{"data": {"regulateId"}}``; a bad body is 422. Segment then deletes the users' data (the
Profile API's view here) and, for the SUPPRESS_* types, drops their later messages while still
answering the Tracking API with success. The state keeps each regulation as Segment does: its
id, type, scope and the userIds it names (regulations name people only by userId).
"""

from __future__ import annotations

import secrets
from typing import TYPE_CHECKING, Any

from cdp_segment.limits import REGULATION_SUBJECTS
from connector.sdk import Request, Response

if TYPE_CHECKING:
    from cdp_segment.emulator.server import SegmentEmulator

__all__ = ["PUBLIC_API_PREFIX", "RegulationRoutes"]

PUBLIC_API_PREFIX = "/regulations"
# segment-docs src/privacy/user-deletion-and-suppression.md, "Regulations"
_TYPES = {
    "SUPPRESS_ONLY",
    "UNSUPPRESS",
    "SUPPRESS_WITH_DELETE",
    "SUPPRESS_WITH_DELETE_INTERNAL",
    "DELETE_ONLY",
    "DELETE_INTERNAL",
}
_DELETES = {
    "SUPPRESS_WITH_DELETE",
    "SUPPRESS_WITH_DELETE_INTERNAL",
    "DELETE_ONLY",
    "DELETE_INTERNAL",
}
_SUPPRESSES = {"SUPPRESS_ONLY", "SUPPRESS_WITH_DELETE", "SUPPRESS_WITH_DELETE_INTERNAL"}


class RegulationRoutes:
    def __init__(self, emu: SegmentEmulator) -> None:
        self.emu = emu
        self.regulations: list[dict[str, Any]] = []
        self.suppressed: set[str] = set()

    def register(self) -> None:
        self.emu.route("POST", PUBLIC_API_PREFIX, self.workspace)
        self.emu.route("POST", PUBLIC_API_PREFIX + "/sources/{source_id}", self.source)

    def workspace(self, request: Request) -> Response:
        return self._create(request, None)

    def source(self, request: Request) -> Response:
        return self._create(request, request.params["source_id"])

    def _create(self, request: Request, source_id: str | None) -> Response:
        body = request.json()
        problem = _problem(body)
        if problem:
            return self.emu.error_response(422, problem)
        assert isinstance(body, dict)  # noqa: S101 - _problem checked it
        kind, users = str(body["regulationType"]), [str(u) for u in body["subjectIds"]]
        regulate_id = "reg_" + secrets.token_hex(8)
        if kind in _DELETES:
            for user in users:
                self.emu.forget_user(user)
        if kind in _SUPPRESSES:
            self.suppressed.update(users)
        elif kind == "UNSUPPRESS":
            self.suppressed.difference_update(users)
        self.regulations.append(
            {
                "regulateId": regulate_id,
                "regulationType": kind,
                "subjectType": "USER_ID",
                "subjectIds": users,
                "sourceId": source_id,
                "overallStatus": "INITIALIZED",
            }
        )
        return Response(200, {"data": {"regulateId": regulate_id}})


def _problem(body: object) -> str | None:
    if not isinstance(body, dict):
        return "body must be a JSON object"
    if body.get("regulationType") not in _TYPES:
        return f"regulationType must be one of {sorted(_TYPES)}"
    if body.get("subjectType") != "USER_ID":
        return "subjectType must be USER_ID"
    ids = body.get("subjectIds")
    if not isinstance(ids, list) or not ids or not all(isinstance(i, str) and i for i in ids):
        return "subjectIds must be a non-empty array of userIds"
    if len(ids) > REGULATION_SUBJECTS:
        return f"at most {REGULATION_SUBJECTS} subjectIds per regulation"
    return None
