"""Fingerprints of quarantined source records, and pruning of old quarantine rows.

A bad record stays in its source (a file line, an old CRM record inside the lookback) and is
read again by later runs; its fingerprint lets those runs count it as already quarantined
instead of storing it once more per run. Lookups go in batches, so a run never holds every
fingerprint in memory.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime

from sqlalchemy import delete, insert, select, update

from connector.state.schema import quarantine_seen, record_errors
from connector.state.store import StateStore

__all__ = ["QuarantineStore"]

_BATCH = 500  # bound parameters per statement: well under SQLite's and PostgreSQL's limits


def _batches(items: Sequence[str]) -> Iterable[Sequence[str]]:
    for start in range(0, len(items), _BATCH):
        yield items[start : start + _BATCH]


class QuarantineStore:
    def __init__(self, store: StateStore) -> None:
        self._engine = store.engine

    def seen(self, source: str, stream: str, fingerprints: Sequence[str]) -> set[str]:
        """Which of these fingerprints an earlier run (or chunk) already quarantined."""
        found: set[str] = set()
        c = quarantine_seen.c
        with self._engine.connect() as conn:
            for batch in _batches(fingerprints):
                rows = conn.execute(
                    select(c.fingerprint).where(
                        c.source == source, c.stream == stream, c.fingerprint.in_(batch)
                    )
                )
                found.update(r[0] for r in rows)
        return found

    def remember(
        self,
        source: str,
        stream: str,
        new: Sequence[str],
        again: Sequence[str],
        run_id: str,
    ) -> None:
        """Store new fingerprints and mark re-seen ones as seen now (keeps them from pruning)."""
        now = datetime.now(UTC).isoformat(timespec="seconds")
        c = quarantine_seen.c
        with self._engine.begin() as conn:
            if new:
                conn.execute(
                    insert(quarantine_seen),
                    [
                        {
                            "source": source,
                            "stream": stream,
                            "fingerprint": fp,
                            "first_run": run_id,
                            "last_seen": now,
                        }
                        for fp in new
                    ],
                )
            for batch in _batches(again):
                conn.execute(
                    update(quarantine_seen)
                    .where(c.source == source, c.stream == stream, c.fingerprint.in_(batch))
                    .values(last_seen=now)
                )

    def prune(self, before: datetime) -> int:
        """Delete pull quarantine rows and fingerprints older than ``before``; return rows."""
        cutoff = before.astimezone(UTC).isoformat(timespec="seconds")
        with self._engine.begin() as conn:
            errors = conn.execute(
                delete(record_errors).where(
                    record_errors.c.stage == "pull", record_errors.c.at < cutoff
                )
            )
            prints = conn.execute(
                delete(quarantine_seen).where(quarantine_seen.c.last_seen < cutoff)
            )
        return int(errors.rowcount or 0) + int(prints.rowcount or 0)
