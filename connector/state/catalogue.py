"""The segment catalogue: every segment we ever produced, with its versioned definition.

A segment held this run (its lists were not synced: they are built on forecasts the run held)
keeps the definition and sizes of what the destinations hold, so the catalogue never shows a
re-cut nobody received; a held segment seen for the first time is listed with no members.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
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

    def sync(self, current: Iterable[CatalogueEntry], held: Collection[str] = ()) -> None:
        """Upsert the segments of this run; bump the version when the definition changed.
        A ``held`` segment keeps its delivered entry (module docstring)."""
        now = datetime.now(UTC).isoformat(timespec="seconds")
        known = {e.segment_id: e for e in self.all()}
        seen: set[str] = set()
        with self._engine.begin() as conn:
            for e in current:
                seen.add(e.segment_id)
                old = known.get(e.segment_id)
                if e.segment_id in held and old is not None:
                    conn.execute(
                        update(segments)
                        .where(segments.c.segment_id == e.segment_id)
                        .values(active=True)
                    )
                    continue
                delivered = e.segment_id not in held  # a new held list was never synced
                values = {
                    "name": e.name,
                    "kind": e.kind,
                    "description": e.description,
                    "definition": e.definition,
                    "model_version": e.model_version,
                    "size": e.size if delivered else 0,
                    "holdout_size": e.holdout_size if delivered else 0,
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
