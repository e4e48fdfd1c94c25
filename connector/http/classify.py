"""What to do about an HTTP status, as a table a plugin can extend (STYLE.md practice 3).

A 2xx answer whose body is not the JSON the platform sends is classified here too: it is nearly
always something between us and the platform (a captive portal's sign-in page, a proxy's error
page, a middlebox that cut the body), so the request may never have arrived. It is retried like
a 5xx and surfaces as retryable if it persists, never taken as success and never a crash.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from enum import StrEnum
from typing import Any

from connector.errors import AuthError, ConnectorError, FatalError, RetryableError, SkippableError
from connector.http.retry import parse_retry_after

__all__ = [
    "DEFAULT_ACTIONS",
    "REFUSALS_SKIP",
    "Action",
    "NotJSONError",
    "action_for",
    "check_answer",
    "error_for",
    "json_body",
    "json_object",
    "raise_for_status",
]


class Action(StrEnum):
    OK = "ok"
    RETRY = "retry"  # transient: back off and send again
    AUTH = "auth"  # credentials refused: stop this platform, tell the user
    SKIP = "skip"  # this record/batch is bad: isolate and reject it
    FAIL = "fail"  # anything else: stop the stage


DEFAULT_ACTIONS: Mapping[int, Action] = {
    400: Action.SKIP,
    401: Action.AUTH,
    403: Action.AUTH,
    404: Action.SKIP,
    408: Action.RETRY,
    409: Action.SKIP,
    413: Action.SKIP,
    422: Action.SKIP,
    425: Action.RETRY,
    429: Action.RETRY,
    500: Action.RETRY,
    502: Action.RETRY,
    503: Action.RETRY,
    504: Action.RETRY,
}


def action_for(status: int, overrides: Mapping[int, Action] | None = None) -> Action:
    if overrides and status in overrides:
        return overrides[status]
    if 200 <= status < 300:
        return Action.OK
    if status in DEFAULT_ACTIONS:
        return DEFAULT_ACTIONS[status]
    return Action.RETRY if status >= 500 else Action.FAIL


def error_for(
    action: Action,
    message: str,
    *,
    retry_after: float | None = None,
    skippable: Callable[[str], SkippableError] = SkippableError,
) -> ConnectorError:
    """The error of our tree that ``action`` names, carrying ``message`` as given.

    Plugins translate their SDK's exceptions with this (and ``action_for``) so a status means
    the same everywhere; ``skippable`` builds a plugin's own ``SkippableError`` subclass when
    the refusal carries more (which input it was about, say).
    """
    if action is Action.RETRY:
        return RetryableError(message, retry_after=retry_after)
    if action is Action.AUTH:
        return AuthError(message)
    if action is Action.SKIP:
        return skippable(message)
    if action is Action.FAIL:
        return FatalError(message)
    raise ValueError("a success is not an error")


# For platforms that answer a bad record with whatever 3xx/4xx: every refusal the shared table
# would call fatal isolates the batch or record instead (extend it with the platform's quirks).
REFUSALS_SKIP: Mapping[int, Action] = {
    status: Action.SKIP for status in range(300, 500) if action_for(status) is Action.FAIL
}


def raise_for_status(
    status: int,
    message: str,
    *,
    retry_after: str | None = None,
    overrides: Mapping[int, Action] | None = None,
) -> None:
    """Raise the error the table names for ``status`` (nothing for 2xx)."""
    action = action_for(status, overrides)
    if action is Action.OK:
        return
    text = f"credentials refused: {message}" if action is Action.AUTH else message
    raise error_for(action, f"HTTP {status}: {text}", retry_after=parse_retry_after(retry_after))


class NotJSONError(RetryableError):
    """A 2xx answer that is not JSON: a proxy or captive portal answered, not the platform."""

    def __init__(self, service: str, status: int, content_type: str | None) -> None:
        kind = (content_type or "no content type").split(";")[0].strip() or "no content type"
        super().__init__(
            f"{service} answered HTTP {status} with a body that is not JSON ({kind}); a proxy "
            "or captive portal may be answering instead of the platform"
        )
        self.http_status = status


def json_body(
    status: int, body: bytes | str | None, *, service: str, content_type: str | None = None
) -> Any:
    """The parsed JSON of an answer; ``NotJSONError`` (retryable) when a 2xx is not JSON.

    The body is never quoted in the error: a portal page may hold anything. A 204 has no body
    by definition and gives None.
    """
    if body is None or not body.strip():
        if 200 <= status < 300 and status != 204:
            raise NotJSONError(service, status, content_type or "empty body")
        return None
    try:
        return json.loads(body)
    except (ValueError, RecursionError):
        if 200 <= status < 300:
            raise NotJSONError(service, status, content_type) from None
        return None


def json_object(
    status: int, body: bytes | str | None, *, service: str, content_type: str | None = None
) -> dict[str, Any]:
    """A 2xx answer's JSON object (every platform we call answers with one); else NotJSONError."""
    data = json_body(status, body, service=service, content_type=content_type)
    if isinstance(data, dict):
        return data
    if data is None and status == 204:
        return {}
    raise NotJSONError(service, status, content_type)


def check_answer(
    status: int, body: bytes | str | None, *, service: str, content_type: str | None = None
) -> None:
    """For SDK transports: raise ``NotJSONError`` when a 2xx carries a body that is not JSON.

    An empty body passes (204s and bodiless 202s are the platforms' own answers); the SDK
    still parses what passes, so only the check lives here.
    """
    if 200 <= status < 300 and body and body.strip():
        json_body(status, body, service=service, content_type=content_type)
