"""Per-minute counts of a stream session, written to its run record, and its health.

Latency is, per event, the time from the event's own timestamp to the moment the micro-batch
that carried it was acknowledged by every destination (or needed nothing sent): what a marketer
waits for. Events more than an hour old when read (backfills, replays) are left out of it.
The run record keeps the last ``KEEP_MINUTES`` minutes and the session's totals.
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

__all__ = ["KEEP_MINUTES", "StreamMetrics", "percentile"]

KEEP_MINUTES = 180


def percentile(sorted_values: list[float], share: float) -> float | None:
    """Nearest-rank percentile of already sorted values (None when there are none)."""
    if not sorted_values:
        return None
    rank = max(1, math.ceil(share * len(sorted_values)))
    return round(sorted_values[rank - 1], 3)


@dataclass(slots=True)
class _Minute:
    start: str
    events: int = 0
    changes: int = 0
    quarantined: int = 0
    unresolved: int = 0
    latencies: list[float] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        lat = sorted(self.latencies)
        return {
            "minute": self.start,
            "events": self.events,
            "membership_changes": self.changes,
            "quarantined": self.quarantined,
            "unresolved": self.unresolved,
            "latency_p50": percentile(lat, 0.50),
            "latency_p95": percentile(lat, 0.95),
            "latency_p99": percentile(lat, 0.99),
        }


class StreamMetrics:
    """Thread-safe: the session writes, the health endpoint reads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._current = _Minute(_minute(datetime.now(UTC)))
        self.minutes: list[dict[str, Any]] = []
        self.totals: dict[str, int] = {
            "events": 0,
            "membership_changes": 0,
            "quarantined": 0,
            "warnings": 0,
            "unresolved": 0,
            "suppressed": 0,
            "rejected": 0,
            "retryable": 0,
            "sweeps": 0,
        }
        self.state = "starting"
        self.last_cycle = time.monotonic()
        self.backlog = 0

    def add(self, key: str, n: int) -> None:
        with self._lock:
            self.totals[key] = self.totals.get(key, 0) + n
            if key in ("events", "quarantined", "unresolved"):
                setattr(self._current, key, getattr(self._current, key) + n)
            elif key == "membership_changes":
                self._current.changes += n

    def latencies(self, values: list[float]) -> None:
        with self._lock:
            self._current.latencies.extend(values)

    def roll(self, now: datetime | None = None) -> bool:
        """Close the minute when it is over; True when one was closed (write the record)."""
        start = _minute(now or datetime.now(UTC))
        with self._lock:
            if start == self._current.start:
                return False
            self.minutes.append(self._current.as_dict())
            del self.minutes[:-KEEP_MINUTES]
            self._current = _Minute(start)
            return True

    def beat(self, state: str) -> None:
        self.state = state
        self.last_cycle = time.monotonic()

    def health(self, stalled_after: float) -> tuple[bool, dict[str, Any]]:
        with self._lock:
            age = time.monotonic() - self.last_cycle
            ok = self.state in ("running", "handing_over", "starting") and age < stalled_after
            body = {
                "status": self.state if ok else "stalled",
                "seconds_since_cycle": round(age, 3),
                "backlog": self.backlog,
                "totals": dict(self.totals),
                "this_minute": self._current.as_dict(),
            }
        return ok, body


def _minute(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M")
