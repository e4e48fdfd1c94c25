"""Segment's user deletion and suppression regulations, for people a privacy request erases.

Public API (docs.segmentapis.com, tag "Deletion and Suppression"; segmentio/public-api-sdk-python
``DeletionAndSuppressionApi``): ``POST /regulations`` (the whole workspace) or
``POST /regulations/sources/{sourceId}`` (one source), Bearer token, body
``{"regulationType": "SUPPRESS_WITH_DELETE" | "DELETE_ONLY" | ..., "subjectType": "USER_ID",
"subjectIds": [...]}``, answer 200 ``{"data": {"regulateId": "..."}}``; 422 is a validation
failure, 429 too many requests. Regulations name people only by ``userId``, up to 5,000 per call
(segment-docs src/privacy/user-deletion-and-suppression.md), and run asynchronously: a regulation
accepted is the platform's promise, like Klaviyo's deletion job. We name people by the userId our
identify calls used, so a person we only ever sent as an anonymousId has nothing to regulate.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from urllib.parse import quote

import httpx

from cdp_segment.limits import REGULATION_SUBJECTS
from connector.sdk import (
    Action,
    Outcome,
    Recipient,
    RetryableError,
    RetryPolicy,
    SkippableError,
    action_for,
    error_for,
    host_of,
    json_object,
    parse_retry_after,
)

__all__ = ["RegulationsApi", "request_regulations"]


class RegulationsApi:
    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        source_id: str | None = None,
        timeout: float = 15.0,
        retry: RetryPolicy | None = None,
    ) -> None:
        self._client = httpx.Client(
            base_url=base_url,
            headers={"Authorization": f"Bearer {token}"},
            timeout=timeout,
        )
        self._path = (
            f"/regulations/sources/{quote(source_id, safe='')}" if source_id else ("/regulations")
        )
        self._retry = retry or RetryPolicy(max_attempts=6, max_delay=120)

    def create(self, regulation_type: str, user_ids: Sequence[str]) -> str:
        """Create one regulation for ``user_ids``; its ``regulateId``."""
        body = {
            "regulationType": regulation_type,
            "subjectType": "USER_ID",
            "subjectIds": list(user_ids),
        }
        answer = self._retry.call(lambda: self._post(body))
        data = answer.get("data")
        return str(data.get("regulateId") or "") if isinstance(data, dict) else ""

    def _post(self, body: dict[str, Any]) -> dict[str, Any]:
        try:
            resp = self._client.post(
                self._path, json=body, headers={"Accept": "application/vnd.segment.v1+json"}
            )
        except httpx.TransportError as exc:
            where = host_of(str(self._client.base_url))
            raise RetryableError(
                f"Public API at {where} unreachable: {type(exc).__name__}"
            ) from exc
        action = action_for(resp.status_code)
        if action is Action.OK:
            ctype = resp.headers.get("Content-Type")
            return json_object(
                resp.status_code, resp.content, service="Segment Public API", content_type=ctype
            )
        message = _error_message(resp)
        wait = (
            parse_retry_after(resp.headers.get("Retry-After")) if action is Action.RETRY else None
        )
        text = f"Public API {resp.status_code}: {message}"
        if action is Action.AUTH:
            text = f"Segment's Public API refused the token: {message}"
        raise error_for(action, text, retry_after=wait)

    def close(self) -> None:
        self._client.close()


def _error_message(resp: httpx.Response) -> str:
    """The Public API answers errors as ``{"errors": [{"type", "message"}]}``."""
    try:
        errors = resp.json().get("errors") or [{}]
        first = errors[0] if isinstance(errors[0], dict) else {}
        return f"{first.get('type', 'error')}: {str(first.get('message', ''))[:200]}"
    except (ValueError, AttributeError, IndexError):
        return resp.reason_phrase


def request_regulations(
    api: RegulationsApi,
    regulation_type: str,
    recipients: Sequence[Recipient],
    user_ids: Sequence[str | None],
) -> list[Outcome]:
    """One regulation per 5,000 userIds; each recipient's outcome is its call's."""
    outcomes: list[Outcome] = [Outcome.ok() for _ in recipients]  # no userId: nothing to name
    named = [i for i, uid in enumerate(user_ids) if uid]
    for start in range(0, len(named), REGULATION_SUBJECTS):
        chunk = named[start : start + REGULATION_SUBJECTS]
        try:
            api.create(regulation_type, [str(user_ids[i]) for i in chunk])
        except RetryableError as exc:
            failed = Outcome.retryable(str(exc), exc.retry_after)
        except SkippableError as exc:
            failed = Outcome.rejected(f"Segment refused the regulation: {exc.reason}")
        else:
            continue
        for i in chunk:
            outcomes[i] = failed
    return outcomes
