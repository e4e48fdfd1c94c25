"""Finding profiles deleted in Klaviyo: a periodic reconciliation of profile ids.

Klaviyo's API lists only live profiles and has no feed of deletions: a profile removed by a
data-privacy deletion job, or merged away (``merge_profiles`` "deletes the source profile in the
process", spec merge_profiles; no read operation returns past merges), simply stops appearing.
So the source keeps, in its plugin state, the ids it has yielded; every
``profile_reconcile_hours`` it lists every live id and turns each known id that is gone into a
tombstone (``{"source_id": X, "deleted": True}``). Klaviyo ids are never reused, so a merge
cannot be told apart from a deletion: a merged-away profile becomes a tombstone too, and the
person lives on in the destination profile.

A tombstone is emitted again on every run for ``REEMIT_DAYS``: the state is saved before the
pull stage stores what the source yielded, so a run that dies in between loses nothing.
"""

from __future__ import annotations

import base64
import json
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from connector.sdk import KeyValueState, SourceRecord

__all__ = ["REEMIT_DAYS", "ProfileLedger"]

REEMIT_DAYS = 7
_KEY = "profiles.ledger"


def _pack(ids: Iterable[str]) -> str:
    return base64.b64encode(zlib.compress("\n".join(sorted(ids)).encode(), 9)).decode()


def _unpack(text: str) -> set[str]:
    raw = zlib.decompress(base64.b64decode(text)).decode()
    return set(raw.split("\n")) if raw else set()


@dataclass
class ProfileLedger:
    """Known live ids, recently gone ids (id → epoch first missed) and the last check time."""

    known: set[str] = field(default_factory=set)
    gone: dict[str, float] = field(default_factory=dict)
    checked_at: float | None = None
    dirty: bool = False

    @classmethod
    def load(cls, state: KeyValueState) -> ProfileLedger:
        text = state.get(_KEY)
        if not text:
            return cls()
        doc = json.loads(text)
        return cls(_unpack(doc["known"]), dict(doc.get("gone") or {}), doc.get("checked_at"))

    def save(self, state: KeyValueState) -> None:
        if self.dirty:
            doc = {"known": _pack(self.known), "gone": self.gone, "checked_at": self.checked_at}
            state.put(_KEY, json.dumps(doc, separators=(",", ":")))
            self.dirty = False

    def saw(self, ids: Iterable[str]) -> None:
        fresh = set(ids) - self.known
        if fresh:
            self.known |= fresh
            self.dirty = True
        for rid in [i for i in fresh if i in self.gone]:  # alive again: no more tombstones
            del self.gone[rid]

    def due(self, every: timedelta, now: datetime) -> bool:
        if self.checked_at is None:
            return True
        return now.timestamp() - self.checked_at >= every.total_seconds()

    def reconcile(self, live: set[str], now: datetime) -> None:
        """The ids listed just now are the truth: the known ones missing from it are gone."""
        for rid in self.known - live:
            self.gone.setdefault(rid, now.timestamp())
        for rid in live & set(self.gone):
            del self.gone[rid]
        self.known = set(live)
        self.checked_at = now.timestamp()
        self.dirty = True

    def tombstones(self, now: datetime) -> Iterator[SourceRecord]:
        """One tombstone per id gone within ``REEMIT_DAYS``; older ones are forgotten."""
        horizon = (now - timedelta(days=REEMIT_DAYS)).timestamp()
        for rid, since in sorted(self.gone.items()):
            if since < horizon:
                continue
            yield {"source_id": rid, "deleted": True}
        expired = [rid for rid, since in self.gone.items() if since < horizon]
        for rid in expired:
            del self.gone[rid]
            self.dirty = True


def utcnow() -> datetime:
    return datetime.now(UTC)
