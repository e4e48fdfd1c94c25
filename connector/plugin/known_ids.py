"""Finding records a platform deleted without telling: a periodic reconciliation of ids.

Some deletions leave no trace an API can list: a Klaviyo profile removed by a privacy job or
merged away, a HubSpot contact deleted under GDPR (gone from every listing, archived ones
included). A source that wants to notice them keeps, in its plugin state, the ids it has
yielded; every so often it lists every live id, and each known id missing from that list is
gone. The source decides what a gone id means (Klaviyo: deleted; HubSpot: deleted, or merged
when the platform still reads the old id as another record) and emits tombstones for the
deleted ones for ``REEMIT_DAYS``: the state is saved before the pull stage stores what the source
yielded, so a run that dies in between loses nothing.
"""

from __future__ import annotations

import base64
import json
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from connector.plugin.protocols import KeyValueState, SourceRecord

__all__ = ["REEMIT_DAYS", "KnownIds", "utcnow"]

REEMIT_DAYS = 7


def _pack(ids: Iterable[str]) -> str:
    return base64.b64encode(zlib.compress("\n".join(sorted(ids)).encode(), 9)).decode()


def _unpack(text: str) -> set[str]:
    raw = zlib.decompress(base64.b64decode(text)).decode()
    return set(raw.split("\n")) if raw else set()


@dataclass
class KnownIds:
    """Known live ids, recently gone ids (id → epoch first missed) and the last check time,
    kept under ``key`` in a plugin's state."""

    key: str
    known: set[str] = field(default_factory=set)
    gone: dict[str, float] = field(default_factory=dict)
    checked_at: float | None = None
    dirty: bool = False

    @classmethod
    def load(cls, state: KeyValueState, key: str) -> KnownIds:
        text = state.get(key)
        if not text:
            return cls(key)
        doc = json.loads(text)
        return cls(key, _unpack(doc["known"]), dict(doc.get("gone") or {}), doc.get("checked_at"))

    def save(self, state: KeyValueState) -> None:
        if self.dirty:
            doc = {"known": _pack(self.known), "gone": self.gone, "checked_at": self.checked_at}
            state.put(self.key, json.dumps(doc, separators=(",", ":")))
            self.dirty = False

    def saw(self, ids: Iterable[str]) -> None:
        fresh = set(ids) - self.known
        if fresh:
            self.known |= fresh
            self.dirty = True
        for rid in [i for i in fresh if i in self.gone]:  # alive again: no more tombstones
            del self.gone[rid]

    def forget(self, ids: Iterable[str]) -> None:
        """Ids the source reported gone itself (archived, merged): nothing to reconcile."""
        drop = set(ids) & (self.known | set(self.gone))
        if drop:
            self.known -= drop
            for rid in drop:
                self.gone.pop(rid, None)
            self.dirty = True

    def due(self, every: timedelta, now: datetime) -> bool:
        if self.checked_at is None:
            return True
        return now.timestamp() - self.checked_at >= every.total_seconds()

    def reconcile(self, live: set[str], now: datetime) -> set[str]:
        """The ids listed just now are the truth: the known ones missing from it are gone
        (returned: the ones newly found gone)."""
        missing = self.known - live
        new = {rid for rid in missing if rid not in self.gone}
        for rid in missing:
            self.gone.setdefault(rid, now.timestamp())
        for rid in live & set(self.gone):
            del self.gone[rid]
        self.known = set(live)
        self.checked_at = now.timestamp()
        self.dirty = True
        return new

    def tombstones(self, now: datetime, id_kind: str | None = None) -> Iterator[SourceRecord]:
        """One tombstone per id gone within ``REEMIT_DAYS`` (naming the id as an identifier of
        ``id_kind``, when given); older ones are forgotten."""
        horizon = (now - timedelta(days=REEMIT_DAYS)).timestamp()
        for rid, since in sorted(self.gone.items()):
            if since < horizon:
                continue
            stone: SourceRecord = {"source_id": rid, "deleted": True}
            if id_kind:
                stone["ids"] = {id_kind: rid}
            yield stone
        expired = [rid for rid, since in self.gone.items() if since < horizon]
        for rid in expired:
            del self.gone[rid]
            self.dirty = True


def utcnow() -> datetime:
    return datetime.now(UTC)
