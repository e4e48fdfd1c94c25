"""One quick authenticated request for ``connector check``, judged in the operator's words.

A run retries a refused connection for minutes (``RetryPolicy``); a check must answer in
seconds, so ``probe`` sends exactly once with a short timeout and turns what came back into a
``ConnectionCheck``: the host it went to, the status, and the setting to fix (the token on 401,
its permissions on 403, the account id on 404, the URL when nothing answered).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx

from connector.plugin.protocols import ConnectionCheck

__all__ = ["CHECK_TIMEOUT", "ProbeHints", "host_of", "judge", "probe", "send_once", "unreachable"]

CHECK_TIMEOUT = 5.0
"""Seconds a check waits for a connection and an answer: long enough for a slow API, short
enough that a wrong port fails fast instead of after a run's retries."""


@dataclass(frozen=True, slots=True)
class ProbeHints:
    """The settings an operator edits for each failure: ``credential`` (the token's key),
    ``scopes`` (the permissions the call needs, in the platform's words), ``account`` (the
    account id's key, if the URL carries one) and ``url`` (the base URL's key)."""

    credential: str
    scopes: str = ""
    account: str = ""
    url: str = "base_url"


def host_of(url: str) -> str:
    """Host and port of a URL, without user info or path (which may carry a token)."""
    parts = urlsplit(url)
    host = parts.hostname or url
    return f"{host}:{parts.port}" if parts.port else host


def unreachable(
    what: str, url: str, exc: httpx.TransportError, hints: ProbeHints
) -> ConnectionCheck:
    host = host_of(url)
    if isinstance(exc, httpx.TimeoutException):
        detail = f"no answer from {host} within {CHECK_TIMEOUT:g}s"
    elif isinstance(exc, httpx.ConnectError):
        detail = f"cannot connect to {host} (connection refused, or no such host)"
    else:
        detail = f"connection to {host} failed ({type(exc).__name__})"
    fix = f"check {hints.url}: is {host} the right host and port, and reachable from here?"
    return ConnectionCheck(what, host, ok=False, status=None, detail=detail, fix=fix)


def judge(
    what: str, url: str, status: int, hints: ProbeHints, message: str = ""
) -> ConnectionCheck:
    """The check's verdict on one HTTP status (after the plugin mapped platform quirks)."""
    host = host_of(url)
    said = f": {message}" if message else ""
    if 200 <= status < 300:
        return ConnectionCheck(what, host, ok=True, status=status, detail="authenticated")
    if status == 401:
        detail, fix = (
            f"the credentials were refused{said}",
            (f"check {hints.credential}: mistyped, expired or revoked"),
        )
    elif status == 403:
        need = f" ({hints.scopes})" if hints.scopes else ""
        detail = f"the credentials lack a permission{said}"
        fix = f"grant {hints.credential} the permission this needs{need}"
    elif status == 404:
        detail = f"not found{said}"
        fix = f"check {hints.account}: no such account" if hints.account else f"check {hints.url}"
    elif status == 429:
        detail, fix = "rate limited: the platform answered 429", "wait a minute and check again"
    elif status >= 500:
        detail, fix = f"the platform failed (HTTP {status}){said}", "try again later"
    elif 300 <= status < 400:
        detail, fix = f"redirected (HTTP {status})", f"check {hints.url}: use the API's own URL"
    else:
        detail, fix = f"refused (HTTP {status}){said}", "check the settings this plugin names"
    return ConnectionCheck(what, host, ok=False, status=status, detail=detail, fix=fix)


def send_once(
    method: str, url: str, *, timeout: float = CHECK_TIMEOUT, **kwargs: Any
) -> httpx.Response:
    """One request, no retries, no redirects; raises ``httpx.TransportError`` when nothing
    answers (``probe`` turns that into a result)."""
    with httpx.Client(timeout=timeout, follow_redirects=False) as client:
        return client.request(method, url, **kwargs)


def probe(
    what: str,
    method: str,
    url: str,
    hints: ProbeHints,
    *,
    headers: Mapping[str, str] | None = None,
    status_of: Callable[[httpx.Response], int] | None = None,
    **kwargs: Any,
) -> ConnectionCheck:
    """Send once and judge the answer. ``status_of`` maps a platform's quirk onto the status
    it means (Meta answers a bad token with 400 and error code 190: that is a 401)."""
    try:
        response = send_once(method, url, headers=dict(headers or {}), **kwargs)
    except httpx.TransportError as exc:
        return unreachable(what, url, exc, hints)
    status = status_of(response) if status_of else response.status_code
    return judge(what, url, status, hints)
