"""What to do about an HTTP status, as a table a plugin can extend (STYLE.md practice 3)."""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum

from connector.errors import AuthError, ConnectorError, FatalError, RetryableError, SkippableError
from connector.http.retry import parse_retry_after

__all__ = ["DEFAULT_ACTIONS", "Action", "action_for", "raise_for_status"]


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


def raise_for_status(
    status: int,
    message: str,
    *,
    retry_after: str | None = None,
    overrides: Mapping[int, Action] | None = None,
) -> None:
    """Raise the error the table names for ``status`` (nothing for 2xx)."""
    action = action_for(status, overrides)
    err: ConnectorError
    if action is Action.OK:
        return
    if action is Action.RETRY:
        err = RetryableError(
            f"HTTP {status}: {message}", retry_after=parse_retry_after(retry_after)
        )
    elif action is Action.AUTH:
        err = AuthError(f"HTTP {status}: credentials refused: {message}")
    elif action is Action.SKIP:
        err = SkippableError(f"HTTP {status}: {message}")
    else:
        err = FatalError(f"HTTP {status}: {message}")
    raise err
