"""What a plugin is: one ``PluginSpec`` exported through the ``cdp_connector.plugins`` entry point.

A spec names the plugin, declares its capabilities (which drive both the runner and the
conformance kit), carries its settings model and the factories for its source, sink and
emulator. Factories receive validated settings and a ``PluginContext`` that injects everything
shared (workspace, state, logger) so plugins never reach for globals.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, Protocol, Self, runtime_checkable

from pydantic import BaseModel

from connector.plugin.changes import Change, Outcome, SegmentRef, TraitSpec

__all__ = [
    "Capability",
    "Emulator",
    "EmulatorOptions",
    "KeyValueState",
    "PluginContext",
    "PluginSpec",
    "Sink",
    "Source",
    "SourceRecord",
    "Stream",
]

SourceRecord = dict[str, Any]
"""A record in the canonical input layout (see ``connector.schema.layout``)."""


class Capability(StrEnum):
    SOURCE_PROFILES = "source:profiles"
    SOURCE_EVENTS = "source:events"
    SINK_TRAITS = "sink:traits"
    SINK_LISTS = "sink:lists"
    SINK_AUDIENCES = "sink:audiences"
    EMULATOR = "emulator"


@dataclass(frozen=True, slots=True)
class Stream:
    """One incremental stream of a source.

    ``cursor`` says how the core treats the high-water mark: ``timestamp`` marks are ISO-8601
    UTC strings that get the configured lookback subtracted; ``opaque`` marks (file names, day
    folders) are compared as strings with no lookback; ``none`` streams are re-read in full.
    ``cursor_field`` names the key of each record that carries its mark.
    """

    name: str
    kind: Literal["profiles", "events"]
    cursor: Literal["timestamp", "opaque", "none"] = "timestamp"
    cursor_field: str = "updated_at"


class Source(Protocol):
    """Yields canonical records of a stream from an inclusive lower bound (``since``)."""

    def streams(self) -> Sequence[Stream]: ...

    def read(self, stream: Stream, since: str | None) -> Iterator[SourceRecord]: ...

    def close(self) -> None: ...


class Sink(Protocol):
    """Receives planned changes in batches and reports an outcome per change.

    ``batch_size(kind)`` is the platform's documented batch limit for that kind of change.
    ``consent`` names the consent channel list memberships require (``"email"`` for email
    lists, ``"ads"`` for ad audiences, ``None`` when membership is not an activation).
    Optional attributes the planner reads when present: ``trait_consent``, the channel a
    profile's traits require (a destination that relays them onwards, such as Segment to ad
    tools; a withdrawn profile's traits are cleared there), and ``consent_policy``, the policy
    used when the destination's config sets none (``"strict"`` if absent).
    ``prepare`` runs once per apply (create properties, find or create lists); ``apply`` must
    return exactly one ``Outcome`` per change, in order, and never raise for one bad record.
    """

    consent: Literal["email", "ads"] | None

    def batch_size(self, kind: str) -> int: ...

    def prepare(self, traits: Sequence[TraitSpec], segments: Sequence[SegmentRef]) -> None: ...

    def apply(self, changes: Sequence[Change]) -> Sequence[Outcome]: ...

    def close(self) -> None: ...


@runtime_checkable
class KeyValueState(Protocol):
    """A plugin's own small persistent memory (e.g. list ids it created), namespaced per plugin."""

    def get(self, key: str) -> str | None: ...

    def put(self, key: str, value: str) -> None: ...

    def items(self, prefix: str = "") -> Mapping[str, str]: ...


@dataclass(frozen=True, slots=True)
class PluginContext:
    """What the core hands a plugin factory: injected, never global."""

    instance: str
    workspace: Path
    state: KeyValueState
    logger: logging.Logger
    run_id: str | None = None
    default_region: str = "US"
    config_dir: Path = field(default_factory=Path.cwd)
    """Relative paths in a plugin's settings are relative to the config file's directory."""


@dataclass(frozen=True, slots=True)
class EmulatorOptions:
    port: int = 0
    seed_profiles: int = 0
    limits: Literal["real", "off"] = "real"
    seed: int = 0


class Emulator(Protocol):
    """A local fake of a platform: a context manager that serves on 127.0.0.1."""

    @property
    def base_url(self) -> str: ...

    def start(self) -> None: ...

    def stop(self) -> None: ...

    def __enter__(self) -> Self: ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...


SourceFactory = Callable[[Any, PluginContext], Source]
SinkFactory = Callable[[Any, PluginContext], Sink]
EmulatorFactory = Callable[[EmulatorOptions], Emulator]


@dataclass(frozen=True, slots=True)
class PluginSpec:
    """The one object a plugin exports. Factories import heavy SDKs lazily."""

    name: str
    description: str
    capabilities: frozenset[Capability]
    settings_model: type[BaseModel]
    source: SourceFactory | None = None
    sink: SinkFactory | None = None
    emulator: EmulatorFactory | None = None
    secret_fields: tuple[str, ...] = field(default=())
