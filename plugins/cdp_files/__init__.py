"""Files plugin: canonical CSV/JSONL/Parquet and Segment-spec NDJSON in, traits and lists out."""

from __future__ import annotations

from cdp_files.settings import FilesSettings
from connector.sdk import Capability, PluginContext, PluginSpec, Sink, Source

__all__ = ["SPEC"]


def _source(settings: FilesSettings, ctx: PluginContext) -> Source:
    from cdp_files.source import FilesSource

    return FilesSource(settings, ctx)


def _sink(settings: FilesSettings, ctx: PluginContext) -> Sink:
    from cdp_files.sink import FilesSink

    return FilesSink(settings, ctx)


SPEC = PluginSpec(
    name="files",
    description="CSV/JSONL/Parquet and Segment-spec NDJSON in; traits and memberships out",
    capabilities=frozenset(
        {
            Capability.SOURCE_PROFILES,
            Capability.SOURCE_EVENTS,
            Capability.SINK_TRAITS,
            Capability.SINK_LISTS,
        }
    ),
    settings_model=FilesSettings,
    source=_source,
    sink=_sink,
)
