"""The state store's record of privacy requests: requests, suppressions, the audit log.

Nothing here holds a raw identifier: requests and suppressions keep keyed hashes
(``connector.privacy.keys``), the log keeps request ids, hashes and what was cleared when.
The log is append-only (rows are only inserted) and outlives the request it describes.
"""

from __future__ import annotations

import csv
import io
import json
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import delete, insert, select, update

from connector.state.schema import erasure_log, erasure_requests, suppressions
from connector.state.store import StateStore

__all__ = ["ErasureBook", "ErasureRequest"]


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


@dataclass(frozen=True, slots=True)
class ErasureRequest:
    request_id: str
    received_at: str
    status: str  # received → erasing → completed
    key_hashes: tuple[str, ...]
    profiles: int
    destinations: dict[str, str]
    completed_at: str | None


class ErasureBook:
    def __init__(self, store: StateStore) -> None:
        self._engine = store.engine

    def add(self, key_hashes: Sequence[str]) -> str:
        """Record one request (its identifiers as hashes) and suppress them at once."""
        request_id = "er_" + datetime.now(UTC).strftime("%Y%m%d") + "_" + secrets.token_hex(4)
        now = _now()
        with self._engine.begin() as conn:
            conn.execute(
                insert(erasure_requests).values(
                    request_id=request_id,
                    received_at=now,
                    status="received",
                    key_hashes=json.dumps(sorted(set(key_hashes))),
                    profiles=0,
                    destinations="{}",
                )
            )
        self.suppress(request_id, key_hashes)
        self.log(request_id, key_hashes[0], "received")
        return request_id

    def suppress(self, request_id: str, key_hashes: Iterable[str]) -> None:
        c = suppressions.c
        with self._engine.begin() as conn:
            known = {r[0] for r in conn.execute(select(c.key_hash))}
            fresh = sorted(set(key_hashes) - known)
            if fresh:
                conn.execute(
                    insert(suppressions),
                    [
                        {"key_hash": h, "request_id": request_id, "created_at": _now()}
                        for h in fresh
                    ],
                )

    def suppressed(self) -> frozenset[str]:
        with self._engine.connect() as conn:
            return frozenset(r[0] for r in conn.execute(select(suppressions.c.key_hash)))

    def log(self, request_id: str, key_hash: str, event: str) -> None:
        with self._engine.begin() as conn:
            conn.execute(
                insert(erasure_log).values(
                    request_id=request_id, key_hash=key_hash, event=event, at=_now()
                )
            )

    def requests(self, *, open_only: bool = False) -> list[ErasureRequest]:
        c = erasure_requests.c
        query = select(erasure_requests).order_by(c.received_at, c.request_id)
        if open_only:
            query = query.where(c.status != "completed")
        with self._engine.connect() as conn:
            rows = conn.execute(query).mappings().all()
        return [
            ErasureRequest(
                r["request_id"],
                r["received_at"],
                r["status"],
                tuple(json.loads(r["key_hashes"])),
                int(r["profiles"] or 0),
                json.loads(r["destinations"] or "{}"),
                r["completed_at"],
            )
            for r in rows
        ]

    def update(
        self,
        request_id: str,
        *,
        status: str,
        profiles: int,
        destinations: dict[str, str],
        completed: bool = False,
    ) -> None:
        with self._engine.begin() as conn:
            conn.execute(
                update(erasure_requests)
                .where(erasure_requests.c.request_id == request_id)
                .values(
                    status=status,
                    profiles=profiles,
                    destinations=json.dumps(destinations, sort_keys=True),
                    completed_at=_now() if completed else None,
                )
            )

    def prune(self, before: datetime) -> int:
        """Forget completed requests and their suppressions received before ``before``."""
        cutoff = before.astimezone(UTC).isoformat(timespec="seconds")
        c = erasure_requests.c
        with self._engine.begin() as conn:
            old = [
                r[0]
                for r in conn.execute(
                    select(c.request_id).where(c.status == "completed", c.received_at < cutoff)
                )
            ]
            if not old:
                return 0
            conn.execute(delete(suppressions).where(suppressions.c.request_id.in_(old)))
            conn.execute(delete(erasure_requests).where(c.request_id.in_(old)))
        return len(old)

    def audit_csv(self) -> str:
        """The audit log as CSV (request_id, key_hash, event, at): no raw identifier in it."""
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(["request_id", "key_hash", "event", "at"])
        c = erasure_log.c
        with self._engine.connect() as conn:
            for row in conn.execute(select(c.request_id, c.key_hash, c.event, c.at).order_by(c.id)):
                writer.writerow(list(row))
        return out.getvalue()
