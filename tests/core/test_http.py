"""Retry policy (reactive, Retry-After first) and rate budget (proactive pacing)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from connector.errors import AuthError, RetryableError, SkippableError
from connector.http import (
    NotJSONError,
    RateBudget,
    RetryPolicy,
    check_answer,
    json_body,
    json_object,
    parse_retry_after,
    raise_for_status,
)


def test_parse_retry_after_seconds_and_http_date() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    assert parse_retry_after("7") == 7.0
    assert (
        parse_retry_after(format_datetime(now + timedelta(seconds=30), usegmt=True), now=now)
        == 30.0
    )
    assert parse_retry_after(None) is None
    assert parse_retry_after("soon") is None


def test_retry_honours_retry_after_then_succeeds() -> None:
    slept: list[float] = []
    attempts = iter([RetryableError("429", retry_after=3), RetryableError("503"), None])

    def call() -> str:
        exc = next(attempts)
        if exc:
            raise exc
        return "ok"

    assert RetryPolicy(sleep=slept.append, base=0.5).call(call) == "ok"
    assert slept[0] == 3
    assert 0.25 <= slept[1] <= 1.0, "second wait is backoff with jitter (attempt 2: 0.5-1.0 / 2)"


def test_retry_gives_up_after_max_attempts_and_reraises() -> None:
    slept: list[float] = []

    def call() -> None:
        raise RetryableError("503 again")

    with pytest.raises(RetryableError, match="503 again"):
        RetryPolicy(max_attempts=4, sleep=slept.append).call(call)
    assert len(slept) == 3


def test_non_retryable_errors_pass_straight_through() -> None:
    calls = []

    def call() -> None:
        calls.append(1)
        raise AuthError("revoked")

    with pytest.raises(AuthError):
        RetryPolicy(sleep=lambda _s: None).call(call)
    assert calls == [1]


def test_status_table() -> None:
    with pytest.raises(RetryableError) as exc:
        raise_for_status(429, "slow down", retry_after="2")
    assert exc.value.retry_after == 2
    with pytest.raises(AuthError):
        raise_for_status(401, "bad token")
    with pytest.raises(SkippableError):
        raise_for_status(400, "bad record")
    with pytest.raises(RetryableError):
        raise_for_status(502, "gateway")
    raise_for_status(204, "")


def test_budget_paces_requests_within_the_window() -> None:
    now = [0.0]

    def sleep(s: float) -> None:
        now[0] += s

    budget = RateBudget(3, 10.0, slack=0.0, clock=lambda: now[0], sleep=sleep)
    sent = []
    for _ in range(7):
        budget.acquire()
        sent.append(now[0])
    # never more than 3 in any 10-second window
    for i, t in enumerate(sent):
        assert sum(1 for u in sent if t <= u < t + 10) <= 3, (i, sent)
    assert sent[3] >= 10.0
    assert sent[6] >= 20.0


def test_budget_penalty_holds_after_a_429() -> None:
    now = [0.0]
    budget = RateBudget(
        5, 1.0, clock=lambda: now[0], sleep=lambda s: now.__setitem__(0, now[0] + s)
    )
    budget.penalise(4.0)
    budget.acquire()
    assert now[0] >= 4.0


@pytest.mark.parametrize(
    ("body", "ctype"),
    [
        (b"<html><body>Sign in to the network</body></html>", "text/html"),
        (b'{"data": {"id": "1", "attrib', "application/json"),
        (b"", None),
        (b"[" * 100_000, "application/json"),
    ],
)
def test_a_2xx_that_is_not_json_is_retryable_and_quotes_nothing(
    body: bytes, ctype: str | None
) -> None:
    """Captive portals and proxies answer 200 with their own page: retry, then surface."""
    with pytest.raises(NotJSONError) as caught:
        json_object(200, body, service="Klaviyo", content_type=ctype)
    assert isinstance(caught.value, RetryableError)
    assert "Klaviyo" in str(caught.value)
    assert "Sign in" not in str(caught.value)


def test_json_answers_and_error_bodies_pass() -> None:
    assert json_object(200, b'{"ok": true}', service="x") == {"ok": True}
    assert json_object(204, b"", service="x") == {}
    assert json_body(502, b"<html>Bad Gateway</html>", service="x") is None  # status decides
    check_answer(202, b"", service="x")  # a bodiless 2xx from an SDK call is the platform's
    check_answer(500, b"<html>", service="x")  # not a 2xx: the status table's business
    with pytest.raises(NotJSONError):
        check_answer(200, b"<html>portal</html>", service="x", content_type="text/html")
    with pytest.raises(NotJSONError):
        json_object(200, b'"just a string"', service="x")
