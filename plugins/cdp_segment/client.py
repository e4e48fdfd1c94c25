"""Profile API reads: one profile's traits, paged by cursor, within 100 requests/s per space.

``GET /v1/spaces/<space>/collections/users/profiles/<type:value>/traits`` with the access
token as Basic user name and an empty password; ``limit`` ≤ 200, ``next`` cursor; answers
``{"traits", "cursor": {"has_more", "next"}}``; errors ``{"error": {"code", "message"}}``
(segment-docs src/unify/profile-api.md). It is per profile, never a bulk export, so we only
ask about profiles we already know.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import httpx

from cdp_segment.limits import PROFILE_API_CALLS, PROFILE_API_TRAITS_PAGE, PROFILE_API_WINDOW
from connector.sdk import (
    REFUSALS_SKIP,
    Action,
    RateBudget,
    RetryableError,
    RetryPolicy,
    action_for,
    error_for,
    host_of,
    json_object,
    parse_retry_after,
)

__all__ = ["ProfileApi"]


class ProfileApi:
    def __init__(
        self,
        base_url: str,
        space_id: str,
        token: str,
        *,
        rate: int = PROFILE_API_CALLS,
        traits_limit: int = PROFILE_API_TRAITS_PAGE,
        timeout: float = 15.0,
        retry: RetryPolicy | None = None,
    ) -> None:
        self._client = httpx.Client(base_url=base_url, auth=(token, ""), timeout=timeout)
        self._space = quote(space_id, safe="")
        self.budget = RateBudget(rate, PROFILE_API_WINDOW, name="segment-profile-api")
        self._retry = retry or RetryPolicy(max_attempts=6, max_delay=120)
        self._limit = traits_limit

    def traits(self, external_id: str) -> dict[str, Any] | None:
        """All traits of ``external_id`` (``user_id:…``, ``email:…``), None if unknown."""
        path = (
            f"/v1/spaces/{self._space}/collections/users/profiles/"
            f"{quote(external_id, safe=':')}/traits"
        )
        out: dict[str, Any] = {}
        cursor: str | None = None
        while True:
            params: dict[str, Any] = {"limit": self._limit}
            if cursor:
                params["next"] = cursor
            body = self._retry.call(lambda p=params: self._get(path, p))  # type: ignore[misc]
            if body is None:
                return None if not out else out
            out.update(body.get("traits") or {})
            page = body.get("cursor") or {}
            cursor = page.get("next") if page.get("has_more") else None
            if not cursor:
                return out

    def _get(self, path: str, params: dict[str, Any]) -> dict[str, Any] | None:
        self.budget.acquire()
        try:
            resp = self._client.get(path, params=params)
        except httpx.TransportError as exc:
            where = host_of(str(self._client.base_url))
            raise RetryableError(
                f"Profile API at {where} unreachable: {type(exc).__name__}"
            ) from exc
        if resp.status_code == 404:
            return None
        action = action_for(resp.status_code, REFUSALS_SKIP)
        if action is Action.OK:
            ctype = resp.headers.get("Content-Type")
            return json_object(
                resp.status_code, resp.content, service="Profile API", content_type=ctype
            )
        message = _error_message(resp)
        wait = None
        if action is Action.RETRY:
            wait = parse_retry_after(resp.headers.get("Retry-After"))
            if resp.status_code == 429:
                self.budget.penalise(wait if wait is not None else 1.0)
        text = f"Profile API {resp.status_code}: {message}"
        if action is Action.AUTH:
            text = f"Profile API refused the access token: {message}"
        raise error_for(action, text, retry_after=wait)

    def close(self) -> None:
        self._client.close()


def _error_message(resp: httpx.Response) -> str:
    try:
        err = resp.json().get("error") or {}
        return f"{err.get('code', 'error')}: {str(err.get('message', ''))[:200]}"
    except (ValueError, AttributeError):
        return resp.reason_phrase
