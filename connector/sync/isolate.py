"""Deliver one batch, retrying transient failures and isolating bad records by bisection.

Audience endpoints answer for a whole request: a single malformed row fails (or is counted as
invalid in) its batch without saying which row it was. ``deliver`` retries transient errors with
the sink's ``RetryPolicy``; on a ``SkippableError`` it splits the batch in halves and sends each
half again until the bad record stands alone and is rejected with the platform's reason. Sends
must be idempotent (adding a member twice or removing an absent one is harmless), which holds
for every membership endpoint we use.

Isolating one bad row in 10,000 costs about 2 x log2(10,000) = 28 extra requests. An error that
is not about a row at all (say, the audience was deleted) would make every half fail, so the
number of isolation requests per batch is capped (``max_splits``); past it the rest of the batch
is rejected with the last reason instead of costing thousands of calls.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

from connector.errors import RetryableError, SkippableError
from connector.http.retry import RetryPolicy
from connector.plugin.changes import Outcome

__all__ = ["deliver"]

T = TypeVar("T")


def deliver(
    items: Sequence[T],
    send: Callable[[Sequence[T]], None],
    retry: RetryPolicy,
    *,
    max_splits: int = 96,
) -> list[Outcome]:
    """One outcome per item, in order. ``AuthError``/``FatalError`` propagate to the runner."""
    budget = [max_splits]
    return _deliver(items, send, retry, budget)


def _deliver(
    items: Sequence[T],
    send: Callable[[Sequence[T]], None],
    retry: RetryPolicy,
    budget: list[int],
) -> list[Outcome]:
    if not items:
        return []
    try:
        retry.call(lambda: send(items))
    except RetryableError as exc:
        return [Outcome.retryable(str(exc), exc.retry_after) for _ in items]
    except SkippableError as exc:
        if len(items) == 1 or budget[0] < 2:
            return [Outcome.rejected(exc.reason) for _ in items]
        budget[0] -= 2
        middle = len(items) // 2
        return _deliver(items[:middle], send, retry, budget) + _deliver(
            items[middle:], send, retry, budget
        )
    return [Outcome.ok() for _ in items]
