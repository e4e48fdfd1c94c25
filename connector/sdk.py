"""The public names for plugin authors: import from here, not from the core's modules.

Kept small on purpose: the plugin contract (spec, capabilities, protocols, context), the change
vocabulary a sink receives, and the errors a plugin raises. Everything else may move.
"""

from connector.errors import ConfigError, FatalError, RetryableError, SkippableError
from connector.plugin.spec import (
    Capability,
    PluginContext,
    PluginSpec,
    Sink,
    Source,
    SourceRecord,
    Stream,
)
from connector.sync.changes import Change, ChangeKind, Outcome, Recipient, SegmentRef, TraitSpec

__all__ = [
    "Capability",
    "Change",
    "ChangeKind",
    "ConfigError",
    "FatalError",
    "Outcome",
    "PluginContext",
    "PluginSpec",
    "Recipient",
    "RetryableError",
    "SegmentRef",
    "Sink",
    "SkippableError",
    "Source",
    "SourceRecord",
    "Stream",
    "TraitSpec",
]
