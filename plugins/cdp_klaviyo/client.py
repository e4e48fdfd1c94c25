"""One door to Klaviyo: the official SDK in dict mode, paced by per-endpoint budgets, retried.

The SDK's own retries are turned off (``max_retries=1`` and a urllib3 pool without retries):
with both layers on, one GET can fan out into 12 requests (facts 3.4). The connector owns the
policy instead: a ``RateBudget`` pair (burst, steady) per documented endpoint policy is asked
before each request; ``RetryPolicy`` handles 429 (honouring ``Retry-After``), 5xx and dropped
connections. Client errors become ``SkippableError`` with Klaviyo's own detail.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import parse_qs, urlsplit

import urllib3
from urllib3.util.retry import Retry

from cdp_klaviyo.limits import ENDPOINT_POLICIES
from cdp_klaviyo.settings import KlaviyoSettings
from connector.sdk import (
    Action,
    AnswerCheckingPoolManager,
    RateBudget,
    RetryableError,
    RetryPolicy,
    SkippableError,
    action_for,
    error_for,
    host_of,
    parse_retry_after,
)

__all__ = [
    "KlaviyoClient",
    "KlaviyoRequestError",
    "error_detail",
    "next_cursor",
    "pointed_item",
    "refusal",
]

T = TypeVar("T")
# Request arrival and our send time differ by a few ms: widen each window so we never cross the
# server's sliding window by a hair.
_WINDOW_SLACK = 0.05


def next_cursor(document: dict[str, Any]) -> str | None:
    """The bare ``page[cursor]`` of ``links.next`` (facts 3.1: never pass the whole link)."""
    link = ((document or {}).get("links") or {}).get("next")
    if not link:
        return None
    values = parse_qs(urlsplit(link).query).get("page[cursor]")
    return values[0].lstrip("=") if values else None


def error_detail(body: str | bytes | None) -> tuple[str, str | None]:
    """Klaviyo's first JSON:API error as ``"code: detail"`` and its source pointer."""
    if not body:
        return "no response body", None
    try:
        errors = json.loads(body).get("errors") or []
    except (ValueError, AttributeError):
        return "unreadable error body", None
    if not errors:
        return "error without detail", None
    err = errors[0]
    source = err.get("source") or {}
    return f"{err.get('code', 'error')}: {err.get('detail', '')}", source.get("pointer")


class KlaviyoRequestError(SkippableError):
    """Klaviyo refused the request itself (4xx): ``pointer`` says which part, if it said."""

    def __init__(self, status: int, detail: str, pointer: str | None) -> None:
        super().__init__(f"HTTP {status} {detail}", field=pointer)
        self.status = status
        self.detail = detail
        self.pointer = pointer


def pointed_item(pattern: re.Pattern[str]) -> Callable[[SkippableError], int | None]:
    """For ``bisect``: the position of the item a refusal's ``source.pointer`` names, if any."""

    def locate(exc: SkippableError) -> int | None:
        match = pattern.match(exc.pointer or "") if isinstance(exc, KlaviyoRequestError) else None
        return int(match.group(1)) if match else None

    return locate


def refusal(exc: SkippableError) -> str:
    """Klaviyo's own ``code: detail`` of a refusal (the reason a rejected change records)."""
    return exc.detail if isinstance(exc, KlaviyoRequestError) else exc.reason


class KlaviyoClient:
    """Wraps ``KlaviyoAPI``; ``call(policy, fn)`` runs one SDK call under budget and retries."""

    def __init__(
        self,
        settings: KlaviyoSettings,
        *,
        sleep: Callable[[float], None] | None = None,
    ) -> None:
        from klaviyo_api import KlaviyoAPI
        from openapi_client.api_arg_options import (
            USE_DICTIONARY_FOR_RESPONSE_DATA,
        )

        self.host = host_of(settings.base_url)
        self.api = KlaviyoAPI(
            settings.api_key.get_secret_value(),
            max_delay=0,
            max_retries=1,
            test_host=settings.base_url.rstrip("/"),
            options={USE_DICTIONARY_FOR_RESPONSE_DATA: True},
        )
        # a 2xx that is not JSON (a captive portal's page) raises NotJSONError, retried below
        self.api.api_client.rest_client.pool_manager = AnswerCheckingPoolManager(
            service="Klaviyo",
            retries=Retry(total=0, redirect=0),
            timeout=urllib3.Timeout(total=settings.timeout),
            maxsize=4,
        )
        self.budgets: dict[str, tuple[RateBudget, ...]] = {}
        for p in ENDPOINT_POLICIES:
            budgets = [
                RateBudget(p.burst, 1.0 + _WINDOW_SLACK, name=f"{p.name}:burst"),
                RateBudget(p.steady, 60.0 + _WINDOW_SLACK, name=f"{p.name}:steady"),
            ]
            if p.daily:
                budgets.append(RateBudget(p.daily, 86400.0, name=f"{p.name}:daily"))
            self.budgets[p.name] = tuple(budgets)
        self.retry = RetryPolicy(
            max_attempts=settings.max_attempts,
            max_delay=settings.max_retry_seconds,
            sleep=sleep,
        )
        self.requests = 0
        self.retries = 0

    def call(self, policy: str, fn: Callable[[], T]) -> T:
        """Run ``fn`` (one SDK request) under ``policy``'s budgets, retrying transient errors."""
        budgets = self.budgets[policy]

        def attempt() -> T:
            for budget in budgets:
                budget.acquire()
            self.requests += 1
            try:
                return fn()
            except RetryableError as exc:
                self.retries += 1
                if exc.retry_after:
                    for budget in budgets:
                        budget.penalise(exc.retry_after)
                raise

        return self.retry.call(lambda: _translate(attempt, self.host))


def _translate(fn: Callable[[], T], host: str = "Klaviyo") -> T:
    """Map SDK and transport failures onto the connector's error tree."""
    from openapi_client.exceptions import ApiException

    try:
        return fn()
    except ApiException as exc:
        status = int(exc.status or 0)
        detail, pointer = error_detail(exc.body)
        action = action_for(status)
        if action is Action.AUTH:
            text = f"Klaviyo refused the API key (HTTP {status}): {detail}"
        else:
            text = f"HTTP {status}: {detail}"
        raise error_for(
            action,
            text,
            retry_after=parse_retry_after((exc.headers or {}).get("Retry-After")),
            skippable=lambda _: KlaviyoRequestError(status, detail, pointer),
        ) from None
    except (urllib3.exceptions.HTTPError, ConnectionError, TimeoutError) as exc:
        raise RetryableError(f"cannot reach {host} ({type(exc).__name__})") from None
