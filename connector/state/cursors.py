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

    def rows(self) -> list[tuple[str, str, str, str, str | None]]:
        """(source, stream, value, updated_at, run_id) of every mark, sorted."""
        cols = cursors.c
        query = select(cols.source, cols.stream, cols.value, cols.updated_at, cols.run_id)
        with self._engine.connect() as conn:
            rows = conn.execute(query.order_by(cols.source, cols.stream))
            return [(r[0], r[1], r[2], r[3], r[4]) for r in rows]

    def reset(self, source: str | None = None, stream: str | None = None) -> int:
        """Forget marks (all, a source's, or one stream's): the next run re-reads from the start.
        Returns how many were forgotten."""
        query = cursors.delete()
        if source is not None:
            query = query.where(cursors.c.source == source)
        if stream is not None:
            query = query.where(cursors.c.stream == stream)
        with self._engine.begin() as conn:
            return int(conn.execute(query).rowcount or 0)

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
