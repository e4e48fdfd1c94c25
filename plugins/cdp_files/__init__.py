"""Files plugin: canonical CSV/JSONL/Parquet and Segment-spec NDJSON in, traits and lists out."""

from __future__ import annotations

from collections.abc import Sequence

from cdp_files.settings import FilesSettings
from connector.sdk import (
    Capability,
    CheckRole,
    ConnectionCheck,
    PluginContext,
    PluginSpec,
    Sink,
    Source,
)

__all__ = ["SPEC"]


def _source(settings: FilesSettings, ctx: PluginContext) -> Source:
    from cdp_files.source import FilesSource

    return FilesSource(settings, ctx)


def _sink(settings: FilesSettings, ctx: PluginContext) -> Sink:
    from cdp_files.sink import FilesSink

    return FilesSink(settings, ctx)


def _check(
    settings: FilesSettings, context: PluginContext, role: CheckRole
) -> Sequence[ConnectionCheck]:
    from cdp_files.check import check_connection

    return check_connection(settings, context, role)


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
    check_connection=_check,
)
