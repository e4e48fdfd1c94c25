"""Quarantine of one source's bad records during a run: exact counts, a bounded sample.

A million bad rows used to become a million error rows held in memory and written to the state
store on every run. Now a run keeps an exact count per reason and stream, stores at most
``sample`` rows per reason and stream, writes as it goes (per chunk), and counts a record an
earlier run already quarantined (same fingerprint) as ``already_quarantined`` without storing it
again.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from typing import Any

from connector.state.quarantine import QuarantineStore
from connector.state.runs import RecordError, RunStore

__all__ = ["MAX_REASONS", "Quarantine", "StreamCounts", "reason_key"]

MAX_REASONS = 50  # distinct reasons counted apart per stream; the rest share one bucket
OTHER = "other reasons"
_DIGITS = re.compile(r"\d+")


def reason_key(reason: str) -> str:
    """The reason with numbers folded (``line 17`` and ``line 18`` are one reason)."""
    return _DIGITS.sub("#", reason)[:160]


def fingerprint(source: str, stream: str, raw: Any, ref: str) -> str:
    """A digest of the bad record as read; its reference stands in when it cannot be dumped."""
    try:
        text = json.dumps(raw, sort_keys=True, default=str)
    except (TypeError, ValueError, RecursionError):
        text = ref
    h = hashlib.blake2b(digest_size=16, person=b"quarantine")
    h.update(f"{source}\x1f{stream}\x1f".encode())
    h.update(text.encode("utf-8", "surrogatepass"))
    return h.hexdigest()


@dataclass(slots=True)
class StreamCounts:
    quarantined: int = 0
    already: int = 0
    reasons: dict[str, int] = field(default_factory=dict)
    stored: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "quarantined": self.quarantined,
            "already_quarantined": self.already,
            "reasons": dict(self.reasons),
        }


@dataclass(slots=True)
class _Pending:
    stream: str
    reason: str
    ref: str
    fp: str


class Quarantine:
    """Collects one chunk's bad records at a time; ``flush`` writes them and clears memory."""

    def __init__(
        self,
        runs: RunStore,
        seen: QuarantineStore,
        *,
        source: str,
        run_id: str,
        sample: int,
        dry_run: bool,
    ) -> None:
        self._runs = runs
        self._seen = seen
        self.source = source
        self.run_id = run_id
        self.sample = sample
        self.dry_run = dry_run
        self._pending: list[_Pending] = []
        self.streams: dict[str, StreamCounts] = {}

    def add(self, stream: str, reason: str, ref: str, raw: Any) -> None:
        fp = fingerprint(self.source, stream, raw, ref)
        self._pending.append(_Pending(stream, reason, ref, fp))

    def counts(self, stream: str) -> StreamCounts:
        return self.streams.setdefault(stream, StreamCounts())

    def flush(self) -> None:
        pending, self._pending = self._pending, []
        by_stream: dict[str, list[_Pending]] = {}
        for item in pending:
            by_stream.setdefault(item.stream, []).append(item)
        errors: list[RecordError] = []
        for stream, items in by_stream.items():
            known = self._seen.seen(self.source, stream, sorted({i.fp for i in items}))
            counts = self.counts(stream)
            new: list[str] = []
            for item in items:
                if item.fp in known:
                    counts.already += 1
                    continue
                known.add(item.fp)  # a duplicate later in the same chunk is "already" too
                new.append(item.fp)
                counts.quarantined += 1
                if self._count(counts, item.reason):
                    errors.append(RecordError("pull", self.source, item.reason, item.ref))
            if not self.dry_run:
                again = sorted({i.fp for i in items} - set(new))
                self._seen.remember(self.source, stream, new, again, self.run_id)
        self._runs.add_errors(self.run_id, errors)

    def _count(self, counts: StreamCounts, reason: str) -> bool:
        """Count the reason; True when this record still fits in the stored sample."""
        key = reason_key(reason)
        if key not in counts.reasons and len(counts.reasons) >= MAX_REASONS:
            key = OTHER
        counts.reasons[key] = counts.reasons.get(key, 0) + 1
        stored = counts.stored.get(key, 0)
        if stored >= self.sample:
            return False
        counts.stored[key] = stored + 1
        return True
