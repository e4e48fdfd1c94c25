"""Injectable faults: rules matched against each request before the platform handler runs.

A rule matches a path glob (and optionally a method) and fires either a fixed number of times
(``count``) or with a probability (``rate``, drawn from a seeded generator so runs repeat).
Kinds: ``status`` (answer with ``status`` and the platform's error body, or ``body``),
``timeout`` (sleep ``delay`` seconds then answer), ``reset`` (drop the connection),
``truncate`` (send half a JSON body and hang up), ``html`` (a non-JSON 5xx page), ``portal``
(a 2xx HTML sign-in page; the request never reaches the platform) and ``garbled`` (the platform
handles the request, then its 2xx answer arrives cut to a non-JSON fragment, correctly framed).

``portal`` and ``garbled`` are what captive portals, corporate proxies and truncating middleboxes
do: a success status with a body that is not the platform's answer. A client must treat that as
transient (retry, then surface), never as success and never as a crash.
"""

from __future__ import annotations

import fnmatch
import random
import threading
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = ["FaultInjector", "FaultRule"]

FaultKind = Literal["status", "timeout", "reset", "truncate", "html", "portal", "garbled", "slow"]


@dataclass(slots=True)
class FaultRule:
    path: str = "*"
    method: str | None = None
    status: int = 503
    kind: FaultKind = "status"
    rate: float | None = None
    count: int | None = None
    retry_after: float | None = None
    delay: float = 0.0
    body: Any = None
    fired: int = field(default=0)

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> FaultRule:
        allowed = {
            "path",
            "method",
            "status",
            "kind",
            "rate",
            "count",
            "retry_after",
            "delay",
            "body",
        }
        unknown = set(raw) - allowed
        if unknown:
            raise ValueError(f"unknown fault rule keys: {sorted(unknown)}")
        return cls(**raw)

    def to_json(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "method": self.method,
            "status": self.status,
            "kind": self.kind,
            "rate": self.rate,
            "count": self.count,
            "retry_after": self.retry_after,
            "delay": self.delay,
            "fired": self.fired,
        }

    def matches(self, method: str, path: str) -> bool:
        if self.method and self.method.upper() != method.upper():
            return False
        return fnmatch.fnmatchcase(path, self.path)


class FaultInjector:
    """Holds the active rules; ``pick`` returns the rule to fire for a request, if any."""

    def __init__(self, seed: int = 0) -> None:
        self._rules: list[FaultRule] = []
        self._rng = random.Random(seed)
        self._lock = threading.Lock()

    def set_rules(self, rules: list[FaultRule]) -> None:
        with self._lock:
            self._rules = list(rules)

    def rules(self) -> list[FaultRule]:
        with self._lock:
            return list(self._rules)

    def pick(self, method: str, path: str) -> FaultRule | None:
        with self._lock:
            for rule in self._rules:
                if not rule.matches(method, path):
                    continue
                if rule.count is not None:
                    if rule.fired >= rule.count:
                        continue
                    if rule.rate is not None and self._rng.random() >= rule.rate:
                        continue
                elif rule.rate is not None and self._rng.random() >= rule.rate:
                    continue
                rule.fired += 1
                return rule
            return None
