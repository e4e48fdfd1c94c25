"""Fixtures for the Segment plugin tests: emulator, settings, a tiny stand-in for the core.

``apply_all`` chunks changes by ``sink.batch_size`` and calls ``sink.apply``, the way the
lead's apply engine will; ``Ledger`` plays the planner (diff desired traits against what was
delivered) and ``EventStore`` plays the data store (upsert by source_event_id).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from cdp_segment.emulator import SegmentEmulator
from cdp_segment.settings import SegmentSettings
from connector.plugin.changes import Change, ChangeKind, Outcome, Recipient
from connector.plugin.spec import EmulatorOptions, Stream
from connector.schema.records import validate_event, validate_profile


def apply_all(sink: Any, changes: Sequence[Change]) -> list[Outcome]:
    out: list[Outcome] = []
    size = sink.batch_size("upsert")
    for start in range(0, len(changes), size):
        chunk = changes[start : start + size]
        result = list(sink.apply(chunk))
        assert len(result) == len(chunk)
        out.extend(result)
    return out


class Ledger:
    """What the planner does: only profiles whose trait digest changed become changes."""

    def __init__(self) -> None:
        self.delivered: dict[str, str] = {}

    def plan(self, desired: dict[str, tuple[Recipient, dict[str, Any]]]) -> list[Change]:
        changes = []
        for key, (recipient, traits) in sorted(desired.items()):
            digest = hashlib.sha256(json.dumps(traits, sort_keys=True).encode()).hexdigest()
            if self.delivered.get(key) != digest:
                changes.append(Change(ChangeKind.UPSERT, recipient, key, digest, traits=traits))
        return changes

    def commit(self, changes: Sequence[Change], outcomes: Sequence[Outcome]) -> None:
        for change, outcome in zip(changes, outcomes, strict=True):
            if outcome.status == "ok":
                self.delivered[change.key] = change.digest


class EventStore:
    """Upserts by (source, id) and keeps the stream mark like the runner does."""

    def __init__(self) -> None:
        self.events: dict[str, Any] = {}
        self.profiles: dict[str, Any] = {}
        self.marks: dict[str, str] = {}
        self.quarantined: list[str] = []

    def pull(self, source: Any, stream: Stream) -> tuple[int, int]:
        """(records read, records new) for one stream run."""
        read = new = 0
        mark = self.marks.get(stream.name)
        for raw in source.read(stream, mark):
            read += 1
            if "_invalid" in raw:  # the pull stage quarantines it
                self.quarantined.append(str(raw["_invalid"]))
                continue
            if stream.kind == "events":
                rec = validate_event(raw, source="segment", region="US")
                new += rec.source_event_id not in self.events
                self.events[rec.source_event_id] = rec
            else:
                prof = validate_profile(raw, source="segment", region="US")
                new += prof.source_id not in self.profiles
                self.profiles[prof.source_id] = prof
            value = raw.get(stream.cursor_field)
            if stream.cursor != "none" and value and (mark is None or value > mark):
                mark = value
        if mark is not None:
            self.marks[stream.name] = mark
        return read, new


@pytest.fixture
def emulator() -> Iterator[SegmentEmulator]:
    with SegmentEmulator(EmulatorOptions(limits="real")) as emu:
        yield emu


@pytest.fixture
def settings_for(tmp_path: Path) -> Callable[..., SegmentSettings]:
    def make(**overrides: Any) -> SegmentSettings:
        base: dict[str, Any] = {
            "write_key": SecretStr("test-write-key"),
            "max_attempts": 4,
            "max_retry_seconds": 30,
        }
        base.update(overrides)
        return SegmentSettings(**base)

    return make
