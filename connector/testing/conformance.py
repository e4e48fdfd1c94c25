"""The conformance suite every plugin runs (STYLE.md practice 8), driven by its capabilities.

A plugin's test file pulls it in with a couple of lines::

    from connector.testing.conformance import ConformanceTarget, PluginConformance

    class TestHubSpotConformance(PluginConformance):
        target = ConformanceTarget(spec=SPEC, settings=lambda url: {...}, ...)

The suite starts the plugin's own emulator and talks to it only through the shared admin
endpoints (``/__emulator__/state|requests|faults``), so it needs nothing platform-specific:
settings round-trip, bad credentials → ``ConfigError``/``AuthError``, unique primary keys, a
second read from the mark reads only the overlap, 429 obeyed, 5xx retried then surfaced, sink
idempotent, no secret in logs, errors or URLs. Tests for capabilities a plugin does not declare
are skipped.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import httpx
import pytest
from pydantic import BaseModel, SecretStr, ValidationError

from connector.errors import FatalError, RetryableError
from connector.plugin.changes import Change, OutcomeStatus, SegmentRef, TraitSpec
from connector.plugin.spec import (
    Capability,
    Emulator,
    EmulatorOptions,
    PluginSpec,
    Sink,
    Source,
    Stream,
)
from connector.schema.records import validate_event, validate_profile
from connector.testing.context import make_context

__all__ = ["ConformanceTarget", "PluginConformance"]


@dataclass(frozen=True)
class ConformanceTarget:
    """What the suite needs to know about a plugin.

    ``settings(base_url)`` gives valid raw settings pointing at the emulator (with fast retry
    settings: the 5xx test exhausts them). ``refuse(emulator, settings)`` makes the emulator
    refuse those credentials, or returns other settings it refuses. ``changes(n)`` builds sink
    changes (upserts, adds) for ``n`` recipients; ``comparable(state)`` keeps the part of the
    emulator state a repeated apply must not change (drop write timestamps there).
    """

    spec: PluginSpec[Any]
    settings: Callable[[str], dict[str, Any]]
    refuse: Callable[[Any, dict[str, Any]], dict[str, Any]]
    seed_profiles: int = 40
    traits: Sequence[TraitSpec] = ()
    segments: Sequence[SegmentRef] = ()
    changes: Callable[[int], list[Change]] | None = None
    comparable: Callable[[dict[str, Any]], Any] = lambda state: state
    fault_path: str = "*"
    source_uses_emulator: bool = True
    """False when the plugin's source reads files or a spool rather than the platform's API."""
    extra: dict[str, Any] = field(default_factory=dict)


def _log(emulator: Emulator) -> list[dict[str, Any]]:
    """The platform requests in the log once complete (a server may record a request just
    after answering it); admin requests, including these reads, are left out."""

    def platform_requests() -> list[dict[str, Any]]:
        entries: list[dict[str, Any]] = _admin(emulator, "GET", "requests")["requests"]
        return [e for e in entries if not str(e["path"]).startswith("/__emulator__")]

    entries = platform_requests()
    while True:
        time.sleep(0.05)
        again = platform_requests()
        if len(again) == len(entries):
            return again
        entries = again


def _admin(emulator: Emulator, method: str, name: str, body: object = None) -> Any:
    url = f"{emulator.base_url}/__emulator__/{name}"
    response = httpx.request(method, url, json=body, timeout=30)
    response.raise_for_status()
    return response.json()


class PluginConformance:
    """Subclass it in a plugin's tests and set ``target``."""

    target: ClassVar[ConformanceTarget]

    # ---- fixtures -------------------------------------------------------------------------
    @pytest.fixture
    def emulator(self) -> Iterator[Emulator]:
        spec = self.target.spec
        if spec.emulator is None:
            pytest.skip(f"{spec.name} ships no emulator")
        options = EmulatorOptions(seed_profiles=self.target.seed_profiles, limits="off", seed=7)
        with spec.emulator(options) as emu:
            yield emu

    def _settings(self, emulator: Emulator) -> BaseModel:
        model: BaseModel = self.target.spec.settings_model.model_validate(
            self.target.settings(emulator.base_url)
        )
        return model

    def _source(
        self, emulator: Emulator, tmp_path: Path, raw: dict[str, Any] | None = None
    ) -> Source:
        spec = self.target.spec
        if not self.target.source_uses_emulator:
            pytest.skip(f"{spec.name}'s source does not read from its emulator")
        if spec.source is None or not (
            spec.capabilities & {Capability.SOURCE_PROFILES, Capability.SOURCE_EVENTS}
        ):
            pytest.skip(f"{spec.name} is not a source")
        settings = spec.settings_model.model_validate(
            raw or self.target.settings(emulator.base_url)
        )
        source = spec.source(settings, make_context(tmp_path))
        self._opened.append(source)
        return source

    @pytest.fixture(autouse=True)
    def _close_opened(self) -> Iterator[None]:
        """Sources and sinks the tests open are closed, so no socket outlives its test."""
        self._opened: list[Source | Sink] = []
        yield
        for plugin in self._opened:
            plugin.close()

    def _sink(self, emulator: Emulator, tmp_path: Path, raw: dict[str, Any] | None = None) -> Sink:
        spec = self.target.spec
        if spec.sink is None or self.target.changes is None:
            pytest.skip(f"{spec.name} is not a sink (or the target builds no changes)")
        settings = spec.settings_model.model_validate(
            raw or self.target.settings(emulator.base_url)
        )
        sink = spec.sink(settings, make_context(tmp_path))
        self._opened.append(sink)
        return sink

    def _read_all(
        self, source: Source, since: str | None = None
    ) -> dict[Stream, list[dict[str, Any]]]:
        return {stream: list(source.read(stream, since)) for stream in source.streams()}

    def _apply(self, sink: Sink, changes: list[Change]) -> list[OutcomeStatus]:
        sink.prepare(self.target.traits, self.target.segments)
        statuses: list[OutcomeStatus] = []
        for kind in ("upsert", "add", "remove"):
            picked = [c for c in changes if c.kind == kind]
            size = sink.batch_size(kind)
            for start in range(0, len(picked), size):
                chunk = picked[start : start + size]
                outcomes = sink.apply(chunk)
                assert len(outcomes) == len(chunk), "one outcome per change"
                statuses.extend(o.status for o in outcomes)
        return statuses

    # ---- settings -------------------------------------------------------------------------
    def test_settings_round_trip(self, emulator: Emulator) -> None:
        settings = self._settings(emulator)
        model = type(settings)
        assert model.model_validate(settings.model_dump()) == settings
        with pytest.raises(ValidationError):
            model.model_validate({**self.target.settings(emulator.base_url), "no_such_key": 1})
        with pytest.raises(ValidationError):
            settings.__setattr__("base_url", "x")  # frozen
        for name in self.target.spec.secret_fields:
            value = getattr(settings, name)
            if value is None:  # an optional secret this target does not set
                continue
            assert isinstance(value, SecretStr), f"{name} must be SecretStr"
            assert value.get_secret_value() not in repr(settings)

    # ---- credentials ----------------------------------------------------------------------
    def test_bad_credentials_are_fatal(self, emulator: Emulator, tmp_path: Path) -> None:
        raw = self.target.refuse(emulator, self.target.settings(emulator.base_url))
        checked = 0
        spec = self.target.spec
        if spec.source is not None and self.target.source_uses_emulator:
            source = self._source(emulator, tmp_path, raw)
            with pytest.raises(FatalError):
                self._read_all(source)
            checked += 1
        if spec.sink is not None and self.target.changes is not None:
            sink = self._sink(emulator, tmp_path, raw)
            with pytest.raises(FatalError):
                self._apply(sink, self.target.changes(2))
            checked += 1
        if not checked:
            pytest.skip("neither source nor sink")

    # ---- source ---------------------------------------------------------------------------
    def test_primary_keys_unique_and_records_valid(
        self, emulator: Emulator, tmp_path: Path
    ) -> None:
        source = self._source(emulator, tmp_path)
        for stream, records in self._read_all(source).items():
            assert records, f"stream {stream.name} read nothing from a seeded emulator"
            key = "source_id" if stream.kind == "profiles" else "source_event_id"
            check = validate_profile if stream.kind == "profiles" else validate_event
            keys = [r[key] for r in records]
            assert len(keys) == len(set(keys)), f"duplicate {key} in {stream.name}"
            for record in records:
                check(record, source="conformance", region="US")

    def test_second_read_from_mark_reads_only_overlap(
        self, emulator: Emulator, tmp_path: Path
    ) -> None:
        source = self._source(emulator, tmp_path)
        for stream in source.streams():
            if stream.cursor == "none":
                continue
            first = list(source.read(stream, None))
            if not first:
                continue
            marks = [str(r[stream.cursor_field]) for r in first if r.get(stream.cursor_field)]
            mark = max(marks, key=_sortable)
            again = list(source.read(stream, mark))
            overlap = [m for m in marks if _sortable(m) >= _sortable(mark)]
            assert len(again) == len(overlap), f"{stream.name}: re-read more than the overlap"

    def test_429_is_obeyed(self, emulator: Emulator, tmp_path: Path) -> None:
        source = self._source(emulator, tmp_path)
        baseline = self._read_all(source)
        rules = [{"path": self.target.fault_path, "status": 429, "count": 2, "retry_after": 1}]
        _admin(emulator, "POST", "faults", {"rules": rules})
        before = len(_log(emulator))
        again = self._read_all(source)
        assert {s.name: len(r) for s, r in again.items()} == {
            s.name: len(r) for s, r in baseline.items()
        }
        log = _log(emulator)[before:]
        throttled = [i for i, e in enumerate(log) if e["status"] == 429]
        assert len(throttled) == 2
        last = throttled[-1]
        assert log[last + 1]["time"] - log[last]["time"] >= 0.9, "Retry-After not honoured"

    def test_5xx_retried_then_surfaced(self, emulator: Emulator, tmp_path: Path) -> None:
        source = self._source(emulator, tmp_path)
        rules = [{"path": self.target.fault_path, "status": 503, "count": 1}]
        _admin(emulator, "POST", "faults", {"rules": rules})
        assert all(records for records in self._read_all(source).values())
        _admin(emulator, "POST", "faults", {"rules": [{**rules[0], "count": None, "rate": 1.0}]})
        with pytest.raises(RetryableError):
            self._read_all(source)
        _admin(emulator, "POST", "faults", {"rules": []})

    # ---- sink -----------------------------------------------------------------------------
    def test_sink_is_idempotent(self, emulator: Emulator, tmp_path: Path) -> None:
        sink = self._sink(emulator, tmp_path)
        assert self.target.changes is not None
        changes = self.target.changes(25)
        assert set(self._apply(sink, changes)) == {OutcomeStatus.OK}
        first = self.target.comparable(_admin(emulator, "GET", "state"))
        assert set(self._apply(sink, changes)) == {OutcomeStatus.OK}
        assert self.target.comparable(_admin(emulator, "GET", "state")) == first

    def test_sink_5xx_surfaces_as_retryable(self, emulator: Emulator, tmp_path: Path) -> None:
        sink = self._sink(emulator, tmp_path)
        assert self.target.changes is not None
        sink.prepare(self.target.traits, self.target.segments)
        rules = [{"path": self.target.fault_path, "status": 503, "rate": 1.0}]
        _admin(emulator, "POST", "faults", {"rules": rules})
        changes = self.target.changes(3)
        first_kind = [c for c in changes if c.kind == changes[0].kind]
        outcomes = sink.apply(first_kind)
        _admin(emulator, "POST", "faults", {"rules": []})
        assert {o.status for o in outcomes} == {OutcomeStatus.RETRYABLE}

    # ---- secrets --------------------------------------------------------------------------
    def test_no_secret_in_logs_errors_or_urls(
        self, emulator: Emulator, tmp_path: Path, caplog: pytest.LogCaptureFixture
    ) -> None:
        raw = self.target.settings(emulator.base_url)
        settings = self._settings(emulator)
        secrets = [
            value.get_secret_value()
            for n in self.target.spec.secret_fields
            if (value := getattr(settings, n)) is not None
        ]
        caplog.set_level(logging.DEBUG)
        messages: list[str] = []
        spec = self.target.spec
        _admin(
            emulator,
            "POST",
            "faults",
            {"rules": [{"path": self.target.fault_path, "status": 503, "count": 2}]},
        )
        if spec.source is not None and self.target.source_uses_emulator:
            self._read_all(self._source(emulator, tmp_path, raw))
        if spec.sink is not None and self.target.changes is not None:
            self._apply(self._sink(emulator, tmp_path, raw), self.target.changes(3))
        refused = self.target.refuse(emulator, raw)
        try:
            if spec.source is not None and self.target.source_uses_emulator:
                self._read_all(self._source(emulator, tmp_path, refused))
        except FatalError as exc:
            messages.append(str(exc))
        urls = [e["path"] + str(e["query"]) for e in _log(emulator)]
        for secret in secrets:
            assert secret not in caplog.text
            assert all(secret not in m for m in messages)
            assert all(secret not in u for u in urls)


def _sortable(value: str) -> str:
    """Marks are ISO-8601 UTC strings or opaque strings; both compare as text."""
    return value
