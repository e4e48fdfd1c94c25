"""Rate limits an emulator enforces: fixed windows per named policy, like the platforms' own.

Each ``RateLimit`` counts requests whose path matches its glob in a window of ``window``
seconds; past ``limit`` the emulator answers 429 with the seconds until the window resets.
"""

from __future__ import annotations

import fnmatch
import math
import threading
import time
from collections import deque
from dataclasses import dataclass

__all__ = ["RateLimit", "RateLimiter"]


@dataclass(frozen=True, slots=True)
class RateLimit:
    name: str
    limit: int
    window: float
    path: str = "*"
    method: str | None = None

    def matches(self, method: str, path: str) -> bool:
        if self.method and self.method.upper() != method.upper():
            return False
        return fnmatch.fnmatchcase(path, self.path)


class RateLimiter:
    """Sliding-log limiter: exact counts per window, so tests can reason about the bound."""

    def __init__(self, limits: list[RateLimit]) -> None:
        self._limits = limits
        self._hits: dict[str, deque[float]] = {lim.name: deque() for lim in limits}
        self._lock = threading.Lock()
        self.enabled = True

    def check(self, method: str, path: str) -> tuple[RateLimit, float] | None:
        """Count the request; return (policy, retry_after seconds) when it is over a limit."""
        if not self.enabled:
            return None
        now = time.monotonic()
        with self._lock:
            matched = [lim for lim in self._limits if lim.matches(method, path)]
            for lim in matched:
                hits = self._hits[lim.name]
                cutoff = now - lim.window
                while hits and hits[0] <= cutoff:
                    hits.popleft()
                if len(hits) >= lim.limit:
                    return lim, max(hits[0] + lim.window - now, 0.001)
            for lim in matched:
                self._hits[lim.name].append(now)
        return None

    @staticmethod
    def whole_seconds(retry_after: float) -> int:
        return max(1, math.ceil(retry_after))
