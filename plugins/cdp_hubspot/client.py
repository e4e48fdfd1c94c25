"""One door to the HubSpot SDK: pacing, retries and error translation for every call.

The SDK itself does not retry a POST (urllib3's default ``allowed_methods`` excludes it) and
returns ``None`` when a 2xx status is missing from its response map (facts §1.2, §2.7), so we
switch its retries off and own the policy here: a per-account ``RateBudget`` is asked before
each request (one for the ten-secondly bucket, one for search's 5/s), ``RetryPolicy`` retries
429/5xx/connection failures, and every SDK exception becomes one of our error tree's.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from collections.abc import Callable, Iterator
from functools import partial
from typing import Any, TypeVar

import urllib3

from cdp_hubspot.limits import BATCH_INPUTS
from cdp_hubspot.settings import HubSpotSettings
from connector.sdk import (
    REFUSALS_SKIP,
    Action,
    RateBudget,
    RetryableError,
    RetryPolicy,
    SkippableError,
    action_for,
    checked_pool_manager,
    error_for,
    host_of,
    parse_retry_after,
)

__all__ = ["ACTIONS", "HubSpotApiError", "HubSpotClient", "api_exceptions"]

T = TypeVar("T")
_BUDGETS: dict[tuple[str, str, str], RateBudget] = {}
_BUDGETS_LOCK = threading.Lock()
# Stay a little under the documented bucket: our clock and the server's differ by a few ms.
_HEADROOM = 0.97
# HubSpot refuses a bad input with some 4xx: each isolates the batch or record, like a 400.
ACTIONS = REFUSALS_SKIP


class HubSpotApiError(SkippableError):
    """HubSpot refused a request (4xx other than auth/429): the batch or record is bad."""

    def __init__(self, status: int, message: str, category: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.category = category


def api_exceptions() -> tuple[type[Exception], ...]:
    """Each SDK namespace has its own ``ApiException`` with no shared base (facts §5.7)."""
    from hubspot.crm.associations.v4 import exceptions as assoc
    from hubspot.crm.contacts import exceptions as contacts
    from hubspot.crm.deals import exceptions as deals
    from hubspot.crm.lists import exceptions as lists
    from hubspot.crm.pipelines import exceptions as pipelines
    from hubspot.crm.properties import exceptions as props

    return tuple(m.ApiException for m in (contacts, deals, props, lists, assoc, pipelines))


def shared_budget(settings: HubSpotSettings, kind: str, limit: int, window: float) -> RateBudget:
    """One budget per portal and bucket, shared by every source and sink of that portal."""
    token = hashlib.sha256(settings.access_token.get_secret_value().encode()).hexdigest()[:16]
    key = (settings.base_url, token, f"{kind}:{limit}/{window}")
    with _BUDGETS_LOCK:
        if key not in _BUDGETS:
            _BUDGETS[key] = RateBudget(limit, window, name=f"hubspot-{kind}")
        return _BUDGETS[key]


def _body(exc: Any) -> dict[str, Any]:
    try:
        data = json.loads(exc.body or "{}")
    except (TypeError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _checked_api(package: Any, api_name: str, config: dict[str, Any]) -> Any:
    """The SDK's own API factory, with a transport that refuses a 2xx that is not JSON.

    The generated client deserialises a captive portal's 200 page into a model or a string and
    reports success; the check raises NotJSONError (retryable) instead."""
    from hubspot.discovery.discovery_base import DiscoveryBase

    api = DiscoveryBase._default_api_factory(package, api_name, config)
    rest = api.api_client.rest_client
    rest.pool_manager = checked_pool_manager(rest.pool_manager, "HubSpot")
    return api


class HubSpotClient:
    def __init__(self, settings: HubSpotSettings, logger: logging.Logger) -> None:
        from hubspot import HubSpot

        self.settings = settings
        self.log = logger
        base = settings.base_url.rstrip("/")
        # host= reaches every generated API, base_url= the raw api_request helper (facts §1.2);
        # retry=0 because the connector owns retries (the SDK never retries POSTs anyway).
        self.sdk = HubSpot(
            access_token=settings.access_token.get_secret_value(),
            host=base,
            base_url=base,
            retry=urllib3.util.Retry(total=0, redirect=0),
            api_factory=_checked_api,
        )
        limit = max(1, int(settings.requests_per_10s * _HEADROOM))
        self.budget = shared_budget(settings, "ten_secondly", limit, 10.0)
        self.search_budget = shared_budget(
            settings, "search", settings.search_requests_per_second, 1.0
        )
        self.retry = RetryPolicy(
            max_attempts=settings.max_attempts,
            max_delay=settings.max_retry_seconds,
            base=settings.retry_base_seconds,
            cap=10.0,
            on_retry=self._on_retry,
        )
        self._errors = api_exceptions()
        self.requests = 0

    @property
    def timeout(self) -> dict[str, Any]:
        return {"_request_timeout": self.settings.timeout}

    def _on_retry(self, exc: RetryableError, wait: float) -> None:
        self.log.info("hubspot: retrying in %.2fs after %s", wait, exc)

    def call(self, what: str, fn: Callable[[], T], *, search: bool = False) -> T:
        """Run one SDK call with pacing and retries; raise our errors, never the SDK's."""

        def attempt() -> T:
            (self.search_budget if search else self.budget).acquire()
            self.requests += 1
            try:
                result = fn()
            except self._errors as exc:
                raise self._translate(what, exc, search=search) from None
            except urllib3.exceptions.HTTPError as exc:
                where = host_of(self.settings.base_url)
                raise RetryableError(
                    f"{what}: cannot reach {where} ({type(exc).__name__})"
                ) from None
            if result is None:
                # A 2xx the SDK did not expect deserialises to None (facts §1.2).
                raise RetryableError(f"{what}: unexpected success response from HubSpot")
            return result

        return self.retry.call(attempt)

    def read_contacts(
        self,
        keys: list[str],
        *,
        id_property: str | None = None,
        properties: list[str] | None = None,
    ) -> Iterator[Any]:
        """The contacts ``keys`` name (record ids, or values of ``id_property``), 100 per batch
        read; a key HubSpot holds no contact for is left out."""
        batch = self.sdk.crm.contacts.batch_api
        for start in range(0, len(keys), BATCH_INPUTS):
            body: dict[str, Any] = {
                "inputs": [{"id": k} for k in keys[start : start + BATCH_INPUTS]],
                "properties": properties or [],
                "propertiesWithHistory": [],
            }
            if id_property is not None:
                body["idProperty"] = id_property
            read = partial(batch.read, batch_read_input_simple_public_object_id=body)
            yield from self.call("contacts batch read", partial(read, **self.timeout)).results or []

    def _translate(self, what: str, exc: Any, *, search: bool) -> Exception:
        status = int(getattr(exc, "status", 0) or 0)
        body = _body(exc)
        message = str(body.get("message") or getattr(exc, "reason", "") or "no message")
        action = action_for(status, ACTIONS) if status else Action.RETRY
        wait = None
        if status == 429:
            wait = parse_retry_after((getattr(exc, "headers", None) or {}).get("Retry-After"))
            if wait is None and (search or body.get("policyName") == "SECONDLY"):
                wait = 1.0  # search's window is one second (facts §2.6)
            text = f"{what}: HTTP 429 {body.get('policyName', '')}"
        elif action is Action.RETRY:
            text = f"{what}: HTTP {status}"
        elif action is Action.AUTH:
            text = f"{what}: HubSpot refused the access token (HTTP {status})"
        else:
            text = message
        category = str(body.get("category") or "")
        return error_for(
            action,
            text,
            retry_after=wait,
            skippable=lambda reason: HubSpotApiError(status, reason, category),
        )
