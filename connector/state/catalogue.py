"""The segment catalogue: every segment we ever produced, with its versioned definition."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select, update

from connector.state.schema import segments
from connector.state.store import StateStore

__all__ = ["CatalogueEntry", "SegmentCatalogue"]


@dataclass(frozen=True, slots=True)
class CatalogueEntry:
    segment_id: str
    name: str
    kind: str
    description: str = ""
    definition: str = ""
    model_version: str = ""
    size: int = 0
    holdout_size: int = 0
    first_seen: str = ""
    last_changed: str = ""
    version: int = 1
    active: bool = True


class SegmentCatalogue:
    def __init__(self, store: StateStore) -> None:
        self._engine = store.engine

    def all(self) -> list[CatalogueEntry]:
        with self._engine.connect() as conn:
            return [
                CatalogueEntry(
                    r.segment_id,
                    r.name,
                    r.kind,
                    r.description or "",
                    r.definition or "",
                    r.model_version or "",
                    r.size or 0,
                    r.holdout_size or 0,
                    r.first_seen,
                    r.last_changed,
                    r.version,
                    bool(r.active),
                )
                for r in conn.execute(select(segments).order_by(segments.c.segment_id))
            ]

    def sync(self, current: Iterable[CatalogueEntry]) -> None:
        """Upsert the segments of this run; bump the version when the definition changed."""
        now = datetime.now(UTC).isoformat(timespec="seconds")
        known = {e.segment_id: e for e in self.all()}
        seen: set[str] = set()
        with self._engine.begin() as conn:
            for e in current:
                seen.add(e.segment_id)
                old = known.get(e.segment_id)
                values = {
                    "name": e.name,
                    "kind": e.kind,
                    "description": e.description,
                    "definition": e.definition,
                    "model_version": e.model_version,
                    "size": e.size,
                    "holdout_size": e.holdout_size,
                    "active": True,
                }
                if old is None:
                    conn.execute(
                        segments.insert().values(
                            segment_id=e.segment_id,
                            first_seen=now,
                            last_changed=now,
                            version=1,
                            **values,
                        )
                    )
                    continue
                changed = (old.definition, old.name) != (e.definition, e.name)
                if changed:
                    values.update(last_changed=now, version=old.version + 1)
                conn.execute(
                    update(segments).where(segments.c.segment_id == e.segment_id).values(**values)
                )
            for sid in set(known) - seen:
                conn.execute(
                    update(segments)
                    .where(segments.c.segment_id == sid)
                    .values(active=False, size=0)
                )
