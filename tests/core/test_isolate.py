"""The one batch-isolation mechanism every sink uses (``connector.sync.isolate``)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import pytest

from connector.errors import RetryableError, SkippableError
from connector.http.retry import RetryPolicy
from connector.plugin.changes import Outcome
from connector.sync.isolate import bisect, deliver


class _Located(SkippableError):
    def __init__(self, position: int) -> None:
        super().__init__(f"item {position} is bad")
        self.position = position


def _refusing(bad: set[int], sent: list[list[int]]) -> Callable[[Sequence[int]], str]:
    def send(items: Sequence[int]) -> str:
        sent.append(list(items))
        if bad & set(items):
            raise SkippableError(f"bad in {list(items)}")
        return "ok"

    return send


def test_bisection_isolates_the_bad_item_and_lands_the_rest() -> None:
    sent: list[list[int]] = []
    done = bisect(list(range(8)), _refusing({5}, sent))
    assert sorted(done.rejected) == [5]
    assert sorted(i for group, _ in done.accepted for i in group) == [0, 1, 2, 3, 4, 6, 7]
    assert sent[:3] == [list(range(8)), [0, 1, 2, 3], [4, 5, 6, 7]]  # depth first, left first


def test_split_cap_rejects_the_rest_instead_of_costing_thousands_of_calls() -> None:
    sent: list[list[int]] = []
    done = bisect(list(range(1000)), _refusing(set(range(1000)), sent), max_splits=4)
    assert len(done.rejected) == 1000
    assert len(sent) == 5  # the batch, then two halvings of two requests each


def test_located_error_rejects_the_named_item_and_resends_the_rest() -> None:
    sent: list[list[str]] = []

    def send(items: Sequence[str]) -> None:
        sent.append(list(items))
        if "bad" in items:
            raise _Located(list(items).index("bad"))

    def locate(exc: SkippableError) -> int | None:
        return exc.position if isinstance(exc, _Located) else None

    done = bisect(["a", "bad", "c"], send, locate=locate, max_splits=0)
    assert list(done.rejected) == [1]
    assert sent == [["a", "bad", "c"], ["a", "c"]]


def test_propagated_errors_are_not_isolated() -> None:
    def send(items: Sequence[int]) -> None:
        raise SkippableError("list gone")

    with pytest.raises(SkippableError):
        bisect([1, 2], send, propagate=lambda exc: exc.reason == "list gone")


def test_deliver_gives_one_outcome_per_item_in_order() -> None:
    def send(items: Sequence[int]) -> None:
        if 1 in items:
            raise SkippableError("bad row")
        if 3 in items:
            raise RetryableError("busy", retry_after=2.0)

    outcomes = deliver([0, 1, 2, 3], send, RetryPolicy(max_attempts=1))
    assert outcomes[0] == Outcome.ok()
    assert outcomes[1] == Outcome.rejected("bad row")
    assert outcomes[2] == outcomes[3] == Outcome.retryable("busy", 2.0)
