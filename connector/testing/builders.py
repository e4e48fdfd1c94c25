"""Data builders for plugin tests: canonical profiles and events, sink changes, input files.

Deterministic (record ``i`` is always the same), valid under ``validate_profile`` and
``validate_event``, with timestamps one step apart from ``EPOCH`` so a test can pick a mark
and know exactly which records are at or after it.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from connector.plugin.changes import Change, ChangeKind, Recipient, SegmentRef, TraitSpec

__all__ = ["EPOCH", "changes", "events", "iso", "profiles", "trait_value", "write_jsonl"]

EPOCH = datetime(2024, 1, 1, tzinfo=UTC)
"""The first builder timestamp; record ``i`` is stamped ``EPOCH + i * step``."""


def iso(moment: datetime) -> str:
    """The canonical text form of a UTC timestamp (what sources yield as marks)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def profiles(
    n: int, *, start: int = 0, step: timedelta = timedelta(hours=1)
) -> list[dict[str, Any]]:
    """``n`` canonical profile records ``p<start>``.. with email, name, consent and a trait."""
    return [
        {
            "source_id": f"p{i}",
            "email": f"person{i}@example.com",
            "first_name": f"First{i}",
            "last_name": f"Last{i}",
            "country": "US",
            "updated_at": iso(EPOCH + i * step),
            "consent": {"email": "granted", "ads": "granted"},
            "traits": {"plan": "pro" if i % 3 == 0 else "free"},
        }
        for i in range(start, start + n)
    ]


def events(
    n: int, *, people: int = 10, start: int = 0, step: timedelta = timedelta(hours=1)
) -> list[dict[str, Any]]:
    """``n`` canonical order events ``e<start>``.., spread over the first ``people`` profiles."""
    return [
        {
            "source_event_id": f"e{i}",
            "type": "order_completed",
            "occurred_at": iso(EPOCH + i * step),
            "email": f"person{i % people}@example.com",
            "revenue": 10 + i % 90,
            "currency": "USD",
            "properties": {"order_id": f"o{i}"},
        }
        for i in range(start, start + n)
    ]


def trait_value(trait: TraitSpec, i: int) -> Any:
    """A value of the trait's declared type for recipient ``i``."""
    if trait.type == "number":
        return i / 10
    if trait.type == "enum":
        return trait.options[i % len(trait.options)] if trait.options else f"v{i % 3}"
    if trait.type == "bool":
        return i % 2 == 0
    if trait.type == "date":
        return (EPOCH + timedelta(days=i)).date().isoformat()
    if trait.type == "datetime":
        return iso(EPOCH + timedelta(hours=i))
    return f"value {i}"


def changes(
    n: int, *, traits: Sequence[TraitSpec] = (), segments: Sequence[SegmentRef] = ()
) -> list[Change]:
    """Upserts of ``traits`` for ``n`` recipients, then every other one added to each segment."""
    people = [Recipient(f"c{i}", email=f"conf{i}@example.com") for i in range(n)]
    out: list[Change] = []
    if traits:
        for i, person in enumerate(people):
            values = {t.name: trait_value(t, i) for t in traits}
            out.append(Change(ChangeKind.UPSERT, person, f"t:{person.profile_id}", f"d{i}", values))
    for segment in segments:
        out.extend(
            Change(ChangeKind.ADD, p, f"m:{segment.id}:{p.profile_id}", "1", segment=segment)
            for p in people[::2]
        )
    return out


def write_jsonl(
    path: Path, records: Iterable[Mapping[str, Any]], *, modified: datetime | None = None
) -> Path:
    """Write records as JSON lines; ``modified`` dates the file (e.g. before the records' marks,
    so a source that reads recently changed files whole filters this one by record instead)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(dict(r), sort_keys=True) + "\n" for r in records))
    if modified is not None:
        stamp = modified.timestamp()
        os.utime(path, (stamp, stamp))
    return path
