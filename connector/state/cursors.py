"""Per-source, per-stream high-water marks, committed only after the data is stored."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select

from connector.state.schema import cursors
from connector.state.store import StateStore

__all__ = ["CursorStore"]


class CursorStore:
    def __init__(self, store: StateStore) -> None:
        self._engine = store.engine

    def get(self, source: str, stream: str) -> str | None:
        with self._engine.connect() as conn:
            row = conn.execute(
                select(cursors.c.value).where(
                    cursors.c.source == source, cursors.c.stream == stream
                )
            ).first()
        return row[0] if row else None

    def all(self) -> dict[tuple[str, str], str]:
        with self._engine.connect() as conn:
            rows = conn.execute(select(cursors.c.source, cursors.c.stream, cursors.c.value))
            return {(r[0], r[1]): r[2] for r in rows}

    def commit(self, source: str, stream: str, value: str, run_id: str | None) -> None:
        now = datetime.now(UTC).isoformat()
        with self._engine.begin() as conn:
            conn.execute(
                cursors.delete().where(cursors.c.source == source, cursors.c.stream == stream)
            )
            conn.execute(
                cursors.insert().values(
                    source=source, stream=stream, value=value, updated_at=now, run_id=run_id
                )
            )
