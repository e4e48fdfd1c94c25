"""Where an SDK owns the HTTP call, these put ``check_answer`` in its transport.

The platforms' SDKs take any 2xx as success: Klaviyo's and HubSpot's generated clients hand an
HTML page to their deserialiser (which returns None or a string), Segment's does not read the
body at all. So a captive portal's 200 would pass as delivered, or crash far from the cause.
Checking at the transport turns it into ``NotJSONError`` (retryable) inside the SDK call, where
each plugin's retry policy already handles transient failures.
"""

from __future__ import annotations

from typing import Any

import urllib3

from connector.http.classify import check_answer

__all__ = ["AnswerCheckingPoolManager", "checked_pool_manager", "requests_answer_hook"]


class AnswerCheckingPoolManager(urllib3.PoolManager):
    """A urllib3 pool manager whose 2xx answers must be JSON (or empty); for JSON APIs only."""

    def __init__(self, *args: Any, service: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.service = service

    def urlopen(  # type: ignore[override]  # PoolManager narrows it the same way
        self, method: str, url: str, redirect: bool = True, **kw: Any
    ) -> Any:
        response = super().urlopen(method, url, redirect=redirect, **kw)
        # ``.data`` reads and caches the body even when the SDK asked not to preload it
        # (Klaviyo's does): these are JSON APIs, never streams, and the SDK reads the cache
        check_answer(
            response.status,
            response.data,
            service=self.service,
            content_type=response.headers.get("Content-Type"),
        )
        return response


def checked_pool_manager(current: urllib3.PoolManager, service: str) -> urllib3.PoolManager:
    """A checking copy of an SDK's pool manager, same pool settings (certificates, retries).

    A proxy manager is returned unchanged: its settings do not carry over to a plain manager.
    """
    if isinstance(current, AnswerCheckingPoolManager | urllib3.ProxyManager):
        return current
    return AnswerCheckingPoolManager(
        service=service, headers=current.headers, **current.connection_pool_kw
    )


def requests_answer_hook(service: str) -> Any:
    """A ``requests`` response hook doing the same check (for SDKs built on ``requests``)."""

    def hook(response: Any, *args: Any, **kwargs: Any) -> Any:
        check_answer(
            response.status_code,
            response.content,
            service=service,
            content_type=response.headers.get("Content-Type"),
        )
        return response

    hook.answer_check = service  # type: ignore[attr-defined]
    return hook
