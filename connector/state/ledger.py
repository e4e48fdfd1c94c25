"""The sync ledger: what each destination acknowledged, per key.

Keys are ``t:<profile_id>`` for a profile's traits (digest of the delivered traits; payload the
trait names, so a trait that disappears can be unset) and ``m:<segment_id>:<profile_id>`` for a
list membership this connector added. The planner diffs desired state against it; the apply
engine writes it only for acknowledged changes, in the same transaction per batch.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import delete, insert, select, tuple_

from connector.state.schema import ledger
from connector.state.store import StateStore
from connector.sync.changes import Change, ChangeKind

__all__ = ["Ledger", "LedgerEntry", "membership_key", "trait_key"]

_CHUNK = 500


def trait_key(profile_id: str) -> str:
    return f"t:{profile_id}"


def membership_key(segment_id: str, profile_id: str) -> str:
    return f"m:{segment_id}:{profile_id}"


@dataclass(frozen=True, slots=True)
class LedgerEntry:
    key: str
    kind: str
    profile_id: str
    segment_id: str | None
    digest: str
    trait_names: tuple[str, ...]


class Ledger:
    def __init__(self, store: StateStore) -> None:
        self._engine = store.engine

    def entries(self, destination: str) -> dict[str, LedgerEntry]:
        with self._engine.connect() as conn:
            rows = conn.execute(
                select(
                    ledger.c.key,
                    ledger.c.kind,
                    ledger.c.profile_id,
                    ledger.c.segment_id,
                    ledger.c.digest,
                    ledger.c.payload,
                ).where(ledger.c.destination == destination)
            )
            return {
                r[0]: LedgerEntry(r[0], r[1], r[2], r[3], r[4], tuple(json.loads(r[5] or "[]")))
                for r in rows
            }

    def count(self, destination: str | None = None) -> int:
        with self._engine.connect() as conn:
            stmt = select(ledger.c.key)
            if destination:
                stmt = stmt.where(ledger.c.destination == destination)
            return len(conn.execute(stmt).all())

    def forget_segment(self, destination: str, segment_id: str) -> int:
        """Drop a segment's memberships, e.g. after the platform lost the audience."""
        with self._engine.begin() as conn:
            result = conn.execute(
                delete(ledger).where(
                    ledger.c.destination == destination, ledger.c.segment_id == segment_id
                )
            )
            return int(result.rowcount or 0)

    def record(self, destination: str, changes: Iterable[Change], run_id: str | None) -> None:
        """Record acknowledged changes (one transaction): upserts/adds stored, removes deleted."""
        now = datetime.now(UTC).isoformat()
        put: list[dict[str, object]] = []
        gone: list[str] = []
        for ch in changes:
            if ch.kind is ChangeKind.REMOVE:
                gone.append(ch.key)
                continue
            put.append(
                {
                    "destination": destination,
                    "key": ch.key,
                    "kind": "trait" if ch.kind is ChangeKind.UPSERT else "membership",
                    "profile_id": ch.recipient.profile_id,
                    "segment_id": ch.segment.id if ch.segment else None,
                    "digest": ch.digest,
                    "payload": json.dumps(sorted(ch.traits))
                    if ch.kind is ChangeKind.UPSERT
                    else None,
                    "delivered_at": now,
                    "run_id": run_id,
                }
            )
        keys = [p["key"] for p in put] + gone
        with self._engine.begin() as conn:
            for i in range(0, len(keys), _CHUNK):
                chunk = keys[i : i + _CHUNK]
                conn.execute(
                    delete(ledger).where(
                        tuple_(ledger.c.destination, ledger.c.key).in_(
                            [(destination, k) for k in chunk]
                        )
                    )
                )
            if put:
                conn.execute(insert(ledger), put)
