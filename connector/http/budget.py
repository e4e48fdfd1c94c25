"""Proactive rate budgets: ask before each request so the platform never has to say 429.

A budget allows ``limit`` requests in any ``window`` seconds (a sliding log, matching how the
platforms count). ``acquire`` blocks just long enough. Platform plugins create one per
documented policy and cite the number's source next to it.

The window is widened by ``slack`` seconds (default 50 ms): the platform counts arrivals, we
count departures, and the two clocks see the same request a few milliseconds apart. Without the
margin a budget that is exactly at the limit trips the limit now and then.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable

__all__ = ["RateBudget"]


class RateBudget:
    def __init__(
        self,
        limit: int,
        window: float,
        *,
        name: str = "budget",
        slack: float = 0.05,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if limit <= 0 or window <= 0:
            raise ValueError("a rate budget needs a positive limit and window")
        self.name = name
        self.limit = limit
        self.window = window + slack
        self._clock = clock
        self._sleep = sleep
        self._sent: deque[float] = deque()
        self._lock = threading.Lock()
        self.waited = 0.0

    def acquire(self) -> float:
        """Block until a request may be sent; return the seconds waited."""
        waited = 0.0
        while True:
            with self._lock:
                now = self._clock()
                while self._sent and self._sent[0] <= now - self.window:
                    self._sent.popleft()
                if len(self._sent) < self.limit:
                    self._sent.append(now)
                    self.waited += waited
                    return waited
                pause = self._sent[0] + self.window - now + 0.001
            self._sleep(pause)
            waited += pause

    def penalise(self, seconds: float) -> None:
        """After a 429, hold the whole budget for ``seconds`` (the platform's Retry-After)."""
        with self._lock:
            until = self._clock() + seconds - self.window
            self._sent = deque([until] * self.limit)
