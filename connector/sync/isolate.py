"""Deliver one batch, retrying transient failures and isolating bad records by bisection.

Platform endpoints answer for a whole request: a single malformed row fails (or is counted as
invalid in) its batch, sometimes naming the row and often not. This is the one isolation
mechanism every sink uses. ``bisect`` sends the batch (through the sink's ``RetryPolicy`` when
given); on a ``SkippableError`` that names the bad item (``locate``) it rejects that item and
resends the rest; otherwise it splits the batch in halves and sends each half again until the
bad record stands alone and is rejected with the platform's reason. Sends must be idempotent
(adding a member twice or removing an absent one is harmless), which holds for every endpoint
we use.

Isolating one bad row in 10,000 costs about 2 x log2(10,000) = 28 extra requests. An error that
is not about a row at all (say, the audience was deleted) would make every half fail, so the
number of halving requests per batch is capped (``max_splits``); past it the rest of the batch
is rejected with the last reason instead of costing thousands of calls. A located error always
removes one item, so it needs no cap. Errors for which ``propagate`` answers true (the list
itself is gone) are not isolated: they go to the caller.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Generic, TypeVar

from connector.errors import RetryableError, SkippableError
from connector.http.retry import RetryPolicy
from connector.plugin.changes import Outcome

__all__ = ["MAX_SPLITS", "Bisection", "bisect", "deliver"]

T = TypeVar("T")
R = TypeVar("R")
MAX_SPLITS = 96


@dataclass(slots=True)
class Bisection(Generic[R]):
    """What became of each item, by its position in the input batch."""

    accepted: list[tuple[list[int], R]] = field(default_factory=list)  # (positions, answer)
    rejected: dict[int, SkippableError] = field(default_factory=dict)
    retryable: dict[int, RetryableError] = field(default_factory=dict)


def bisect(
    items: Sequence[T],
    send: Callable[[Sequence[T]], R],
    *,
    retry: RetryPolicy | None = None,
    max_splits: int = MAX_SPLITS,
    locate: Callable[[SkippableError], int | None] | None = None,
    propagate: Callable[[SkippableError], bool] | None = None,
) -> Bisection[R]:
    """Send ``items``, isolating refused ones; groups are sent depth first, left half first.

    ``AuthError``/``FatalError`` (and errors ``propagate`` picks) go to the caller.
    """
    result: Bisection[R] = Bisection()
    stack = [list(range(len(items)))] if items else []
    budget = max_splits
    while stack:
        group = stack.pop()
        batch = [items[i] for i in group]
        try:
            answer = retry.call(partial(send, batch)) if retry else send(batch)
        except RetryableError as exc:
            result.retryable.update(dict.fromkeys(group, exc))
            continue
        except SkippableError as exc:
            if propagate is not None and propagate(exc):
                raise
            bad = locate(exc) if locate else None
            if bad is not None and 0 <= bad < len(group):
                result.rejected[group[bad]] = exc
                rest = group[:bad] + group[bad + 1 :]
                if rest:
                    stack.append(rest)
            elif len(group) == 1 or budget < 2:
                result.rejected.update(dict.fromkeys(group, exc))
            else:
                budget -= 2
                middle = len(group) // 2
                stack += [group[middle:], group[:middle]]
            continue
        result.accepted.append((group, answer))
    return result


def deliver(
    items: Sequence[T],
    send: Callable[[Sequence[T]], None],
    retry: RetryPolicy,
    *,
    max_splits: int = MAX_SPLITS,
) -> list[Outcome]:
    """One outcome per item, in order. ``AuthError``/``FatalError`` propagate to the runner."""
    done = bisect(items, send, retry=retry, max_splits=max_splits)
    outcomes = [Outcome.ok() for _ in items]
    for i, rejected in done.rejected.items():
        outcomes[i] = Outcome.rejected(rejected.reason)
    for i, exc in done.retryable.items():
        outcomes[i] = Outcome.retryable(str(exc), exc.retry_after)
    return outcomes
