"""What a plugin is: one ``PluginSpec`` exported through the ``cdp_connector.plugins`` entry point.

A spec names the plugin, declares its capabilities (which drive both the runner and the
conformance kit), carries its settings model and the factories for its source, sink, emulator
and listeners, each typed by that settings model. Factories receive validated settings and a
``PluginContext`` that injects everything shared (workspace, state, logger) so plugins never
reach for globals. What the core must know about a platform (its SDK's loggers, its demo part,
its webhook receivers) comes from here, never from an import of the plugin.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, Generic, Literal, TypeVar

from pydantic import BaseModel

from connector.logs import install_library_redaction
from connector.plugin.protocols import (
    CheckRole,
    ConnectionCheck,
    ConnectionChecker,
    Emulator,
    KeyValueState,
    LiveSource,
    PagedSource,
    Sink,
    SinkBase,
    Source,
    SourcePage,
    SourceRecord,
    Stream,
)
from connector.plugin.secrets import secret_fields

__all__ = [
    "Capability",
    "CheckRole",
    "ConnectionCheck",
    "ConnectionChecker",
    "DemoCast",
    "DemoPart",
    "DemoRole",
    "Emulator",
    "EmulatorFactory",
    "EmulatorOptions",
    "KeyValueState",
    "ListenOptions",
    "Listener",
    "LiveSource",
    "PagedSource",
    "PluginContext",
    "PluginSpec",
    "Sink",
    "SinkBase",
    "SinkFactory",
    "Source",
    "SourceFactory",
    "SourcePage",
    "SourceRecord",
    "Stream",
]

SettingsT = TypeVar("SettingsT", bound=BaseModel)


class Capability(StrEnum):
    SOURCE_PROFILES = "source:profiles"
    SOURCE_EVENTS = "source:events"
    SINK_TRAITS = "sink:traits"
    SINK_LISTS = "sink:lists"
    SINK_AUDIENCES = "sink:audiences"
    EMULATOR = "emulator"


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
    written_traits: frozenset[str] = frozenset()
    """Names of the traits this connector writes to destinations: a source that reads a
    platform we also write to leaves them out, so our own writes never look like changes."""


@dataclass(frozen=True, slots=True)
class EmulatorOptions:
    port: int = 0
    seed_profiles: int = 0
    limits: Literal["real", "off"] = "real"
    seed: int = 0


@dataclass(frozen=True, slots=True)
class ListenOptions:
    """Where ``connector listen`` serves a receiver; ``ready`` is told the URL once it listens."""

    workspace: Path
    host: str = "127.0.0.1"
    port: int = 8787
    ready: Callable[[str], None] | None = None


@dataclass(frozen=True, slots=True)
class DemoCast:
    """The demo's people, as each kind of tool would hold them (``connector.demo.dataset``).

    ``crm`` are contacts with phones and consent, ``marketing`` subscribers under the e-mail
    tool's own ids, ``web_messages`` browsing events in Segment's spec shape; ``root`` is the
    demo directory a plugin may write files under; ``segments`` the segment ids a destination
    activates.
    """

    root: Path
    crm: Sequence[Mapping[str, str]]
    marketing: Sequence[Mapping[str, str]]
    web_messages: Sequence[Mapping[str, Any]]
    segments: Sequence[str]


@dataclass(frozen=True, slots=True)
class DemoPart:
    """A plugin's share of the demo's config file and secrets file (TOML text)."""

    config: str
    secrets: str = ""


@dataclass(frozen=True, slots=True)
class DemoRole:
    """How a plugin takes part in ``connector demo``: seed its running emulator, say its config.

    ``sdk`` is the module the plugin's client needs (the demo leaves the plugin out when it is
    not installed); ``plays`` the parts of the cast it holds (``crm``, ``marketing``, ``web``:
    the demo stops writing those to files); ``setup`` gets the emulator's base URL and the cast,
    seeds the emulator and returns the plugin's part of the config.
    """

    sdk: str
    plays: frozenset[Literal["crm", "marketing", "web"]]
    setup: Callable[[str, DemoCast], DemoPart]


SourceFactory = Callable[[SettingsT, PluginContext], Source]
SinkFactory = Callable[[SettingsT, PluginContext], Sink]
EmulatorFactory = Callable[[EmulatorOptions], Emulator]
Listener = Callable[[SettingsT, ListenOptions], None]
"""Serves a receiver in the foreground until interrupted (``connector listen``)."""


@dataclass(frozen=True, slots=True)
class PluginSpec(Generic[SettingsT]):
    """The one object a plugin exports. Factories import heavy SDKs lazily.

    ``sdk_loggers`` name the loggers of the SDKs the plugin calls: their DEBUG lines can carry
    full URLs with tokens, so the core's redacting filter is attached to them as soon as the
    spec exists. ``listeners`` are the plugin's receivers by name (a webhook, ...).
    ``check_connection`` is what ``connector check`` calls per source and destination: one
    authenticated call per endpoint that reads nothing sensitive (``connector.sdk.probe``).
    """

    name: str
    description: str
    capabilities: frozenset[Capability]
    settings_model: type[SettingsT]
    source: SourceFactory[SettingsT] | None = None
    sink: SinkFactory[SettingsT] | None = None
    emulator: EmulatorFactory | None = None
    listeners: Mapping[str, Listener[SettingsT]] = field(default_factory=dict)
    sdk_loggers: tuple[str, ...] = ()
    demo: DemoRole | None = None
    check_connection: ConnectionChecker[SettingsT] | None = None

    def __post_init__(self) -> None:
        install_library_redaction(self.sdk_loggers)

    @property
    def secret_fields(self) -> tuple[str, ...]:
        """The settings fields typed ``SecretStr``: resolved from env or secrets file, redacted."""
        return secret_fields(self.settings_model)
