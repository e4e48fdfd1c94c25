"""Reactive retries: read the response, honour Retry-After, back off with jitter otherwise.

Retrying is kept apart from the rate budget (STYLE.md practice 4): the budget paces requests
before they leave, this policy decides what to do after a response came back.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import TypeVar

from tenacity import (
    RetryCallState,
    Retrying,
    nap,
    retry_if_exception_type,
    stop_after_attempt,
    stop_after_delay,
)

from connector.errors import RetryableError

__all__ = ["RetryPolicy", "parse_retry_after"]

T = TypeVar("T")


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds from a Retry-After header: delta-seconds or an HTTP date; None if absent/bad."""
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    try:
        return max(0.0, float(text))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


class RetryPolicy:
    """Retry ``RetryableError`` with Retry-After first, exponential backoff with jitter second.

    Stops at ``max_attempts`` or ``max_delay`` seconds, whichever comes first, then re-raises the
    last error so the caller can record the change as retryable for the next run.
    """

    def __init__(
        self,
        *,
        max_attempts: int = 8,
        max_delay: float = 300.0,
        base: float = 0.5,
        cap: float = 30.0,
        sleep: Callable[[float], None] | None = None,
        on_retry: Callable[[RetryableError, float], None] | None = None,
    ) -> None:
        self.max_attempts = max_attempts
        self.max_delay = max_delay
        self.base = base
        self.cap = cap
        self._sleep = sleep
        self._on_retry = on_retry

    def wait_seconds(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, RetryableError) and exc.retry_after is not None:
            return min(exc.retry_after, self.max_delay)
        backoff = min(self.cap, self.base * 2 ** (state.attempt_number - 1))
        return random.uniform(backoff / 2, backoff)

    def _before_sleep(self, state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        if self._on_retry and isinstance(exc, RetryableError) and state.next_action:
            self._on_retry(exc, state.next_action.sleep)

    def call(self, fn: Callable[[], T]) -> T:
        retrying = Retrying(
            retry=retry_if_exception_type(RetryableError),
            wait=self.wait_seconds,
            stop=stop_after_attempt(self.max_attempts) | stop_after_delay(self.max_delay),
            before_sleep=self._before_sleep,
            reraise=True,
            sleep=self._sleep or nap.sleep,
        )
        return retrying(fn)
