"""The plugin contract: the change vocabulary, the protocols, ``PluginSpec`` and the registry."""

from connector.plugin.registry import BrokenPlugin, PluginRegistry
from connector.plugin.spec import (
    Capability,
    Emulator,
    EmulatorOptions,
    KeyValueState,
    ListenOptions,
    PluginContext,
    PluginSpec,
    Sink,
    SinkBase,
    Source,
    SourceRecord,
    Stream,
)

__all__ = [
    "BrokenPlugin",
    "Capability",
    "Emulator",
    "EmulatorOptions",
    "KeyValueState",
    "ListenOptions",
    "PluginContext",
    "PluginRegistry",
    "PluginSpec",
    "Sink",
    "SinkBase",
    "Source",
    "SourceRecord",
    "Stream",
]
