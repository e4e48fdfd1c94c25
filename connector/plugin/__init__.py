"""Plugin protocols and the entry-point registry."""

from connector.plugin.registry import BrokenPlugin, PluginRegistry
from connector.plugin.spec import (
    Capability,
    Emulator,
    EmulatorOptions,
    KeyValueState,
    PluginContext,
    PluginSpec,
    Sink,
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
    "PluginContext",
    "PluginRegistry",
    "PluginSpec",
    "Sink",
    "Source",
    "SourceRecord",
    "Stream",
]
