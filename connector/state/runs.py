"""Run records: status, per-stage timings and counts, and per-record errors with reasons.

Errors name records by source reference and profiles by ``profile_id``; reasons come from our
validators or the platform and are passed through the log redactor before they are stored, as
are the run's message and every string in its stage records.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, insert, select, update

from connector.logs import redact
from connector.state.schema import record_errors, runs
from connector.state.store import StateStore

__all__ = ["RecordError", "RunRow", "RunStore"]


@dataclass(frozen=True, slots=True)
class RecordError:
    stage: str
    plugin: str
    reason: str
    record_ref: str | None = None
    profile_id: str | None = None
    retryable: bool = False


@dataclass(frozen=True, slots=True)
class RunRow:
    run_id: str
    started_at: str
    ended_at: str | None
    status: str
    dry_run: bool
    stages: dict[str, Any] = field(default_factory=dict)
    counts: dict[str, Any] = field(default_factory=dict)
    message: str | None = None
    error_count: int = 0


def _redacted(value: Any) -> Any:
    """Stage records carry platform text (a source's failure): every string is redacted."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, Mapping):
        return {redact(str(k)): _redacted(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_redacted(v) for v in value]
    return value


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


class RunStore:
    def __init__(self, store: StateStore) -> None:
        self._engine = store.engine

    def start(self, run_id: str, *, dry_run: bool) -> None:
        with self._engine.begin() as conn:
            conn.execute(
                insert(runs).values(
                    # milliseconds: runs are ordered by start, and two can start in one second
                    run_id=run_id,
                    started_at=datetime.now(UTC).isoformat(timespec="milliseconds"),
                    status="running",
                    dry_run=dry_run,
                )
            )

    def mark_abandoned(self, status: str = "running") -> int:
        """Runs still 'running' (stream sessions still 'streaming') when a new one holds the
        lock died without ending: say so."""
        with self._engine.begin() as conn:
            result = conn.execute(
                update(runs)
                .where(runs.c.status == status)
                .values(
                    status="abandoned",
                    ended_at=_now(),
                    message="the process ended without finishing (killed or crashed)",
                )
            )
            return int(result.rowcount or 0)

    def update(
        self,
        run_id: str,
        *,
        status: str | None = None,
        stages: Mapping[str, Any] | None = None,
        counts: Mapping[str, Any] | None = None,
        message: str | None = None,
        ended: bool = False,
    ) -> None:
        values: dict[str, Any] = {}
        if status is not None:
            values["status"] = status
        if stages is not None:
            values["stages"] = json.dumps(_redacted(stages))
        if counts is not None:
            values["counts"] = json.dumps(_redacted(counts))
        if message is not None:
            values["message"] = redact(message)
        if ended:
            values["ended_at"] = _now()
        with self._engine.begin() as conn:
            conn.execute(update(runs).where(runs.c.run_id == run_id).values(**values))

    def add_errors(self, run_id: str, errors: Iterable[RecordError]) -> int:
        now = _now()
        rows = [
            {
                "run_id": run_id,
                "stage": redact(e.stage),
                "plugin": redact(e.plugin),
                "record_ref": redact(e.record_ref) if e.record_ref else None,
                "profile_id": redact(e.profile_id) if e.profile_id else None,
                "reason": redact(e.reason)[:2000],
                "retryable": e.retryable,
                "at": now,
            }
            for e in errors
        ]
        if rows:
            with self._engine.begin() as conn:
                conn.execute(insert(record_errors), rows)
        return len(rows)

    def _row(self, r: Any, errors: int) -> RunRow:
        return RunRow(
            run_id=r.run_id,
            started_at=r.started_at,
            ended_at=r.ended_at,
            status=r.status,
            dry_run=bool(r.dry_run),
            stages=json.loads(r.stages or "{}"),
            counts=json.loads(r.counts or "{}"),
            message=r.message,
            error_count=errors,
        )

    def recent(self, limit: int = 20) -> list[RunRow]:
        with self._engine.connect() as conn:
            rows = conn.execute(
                select(runs).order_by(runs.c.started_at.desc(), runs.c.run_id.desc()).limit(limit)
            ).all()
            counts: dict[str, int] = dict(
                conn.execute(
                    select(record_errors.c.run_id, func.count()).group_by(record_errors.c.run_id)
                ).all()
            )
        return [self._row(r, int(counts.get(r.run_id, 0))) for r in rows]

    def recent_stages(self, limit: int = 10) -> list[dict[str, Any]]:
        """The stage records of the newest real runs (a dry run delivered nothing), newest
        first, without ``recent``'s count of every run's record errors (``connector stream``
        asks each minute)."""
        with self._engine.connect() as conn:
            rows = conn.execute(
                select(runs.c.stages)
                .where(runs.c.dry_run.is_(False))
                .order_by(runs.c.started_at.desc(), runs.c.run_id.desc())
                .limit(limit)
            ).all()
        return [json.loads(r.stages or "{}") for r in rows]

    def get(self, run_id: str) -> RunRow | None:
        with self._engine.connect() as conn:
            r = conn.execute(
                select(runs).where(runs.c.run_id.startswith(run_id, autoescape=True))
            ).all()
            if len(r) != 1:
                return None
            n = conn.execute(
                select(func.count())
                .select_from(record_errors)
                .where(record_errors.c.run_id == r[0].run_id)
            ).scalar_one()
        return self._row(r[0], int(n))

    def errors(self, run_id: str, limit: int | None = None) -> list[RecordError]:
        with self._engine.connect() as conn:
            stmt = (
                select(record_errors)
                .where(record_errors.c.run_id == run_id)
                .order_by(record_errors.c.id)
            )
            if limit:
                stmt = stmt.limit(limit)
            return [
                RecordError(
                    r.stage, r.plugin, r.reason, r.record_ref, r.profile_id, bool(r.retryable)
                )
                for r in conn.execute(stmt)
            ]
