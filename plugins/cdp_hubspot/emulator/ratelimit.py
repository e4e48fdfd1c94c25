"""HubSpot's rate-limit policies as the emulator enforces them (numbers in ``cdp_hubspot.limits``).

The search API is not counted in the ten-secondly bucket. A 429 carries ``errorType:
RATE_LIMIT`` and ``policyName`` and no documented Retry-After.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from datetime import UTC, datetime

from connector.sdk import RateLimit, RateLimiter

__all__ = ["HubSpotLimiter"]


def _is_search(path: str) -> bool:
    return path.rstrip("/").endswith("/search") and path.startswith("/crm/v3/objects/")


class HubSpotLimiter(RateLimiter):
    """TEN_SECONDLY_ROLLING for everything but search, SECONDLY for search, DAILY for all."""

    def __init__(self, per_ten_seconds: int, search_per_second: int, daily: int) -> None:
        self.ten = RateLimit("TEN_SECONDLY_ROLLING", per_ten_seconds, 10.0)
        self.search = RateLimit("SECONDLY", search_per_second, 1.0)
        self.daily = RateLimit("DAILY", daily, 86_400.0)
        super().__init__([self.ten, self.search, self.daily])
        self._day = ""
        self.daily_count = 0
        self._lock2 = threading.Lock()

    def _window(self, lim: RateLimit, now: float) -> deque[float]:
        hits = self._hits[lim.name]
        while hits and hits[0] <= now - lim.window:
            hits.popleft()
        return hits

    def check(self, method: str, path: str) -> tuple[RateLimit, float] | None:
        if not self.enabled:
            return None
        now = time.monotonic()
        today = datetime.now(UTC).date().isoformat()
        with self._lock2:
            if today != self._day:
                self._day, self.daily_count = today, 0
            if self.daily_count >= self.daily.limit:
                return self.daily, 3600.0
            lim = self.search if _is_search(path) else self.ten
            hits = self._window(lim, now)
            if len(hits) >= lim.limit:
                return lim, max(hits[0] + lim.window - now, 0.001)
            hits.append(now)
            self.daily_count += 1
        return None

    def headers(self, path: str) -> dict[str, str]:
        """``X-HubSpot-RateLimit-*`` headers; search responses carry none (facts §2.1)."""
        if not self.enabled or _is_search(path):
            return {}
        with self._lock2:
            used = len(self._window(self.ten, time.monotonic()))
            return {
                "X-HubSpot-RateLimit-Interval-Milliseconds": "10000",
                "X-HubSpot-RateLimit-Max": str(self.ten.limit),
                "X-HubSpot-RateLimit-Remaining": str(max(self.ten.limit - used, 0)),
                "X-HubSpot-RateLimit-Daily": str(self.daily.limit),
                "X-HubSpot-RateLimit-Daily-Remaining": str(
                    max(self.daily.limit - self.daily_count, 0)
                ),
            }
