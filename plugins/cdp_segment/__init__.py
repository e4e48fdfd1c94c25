"""Twilio Segment: event history (S3 archive) and live events (webhook) in, traits out (identify).

Factories import the SDK-bearing modules lazily so listing plugins stays cheap.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from cdp_segment.settings import SegmentSettings
from connector.sdk import (
    Capability,
    CheckRole,
    ConnectionCheck,
    DemoCast,
    DemoPart,
    DemoRole,
    EmulatorOptions,
    ListenOptions,
    PluginContext,
    PluginSpec,
)

if TYPE_CHECKING:
    from connector.sdk import Emulator, Sink, Source

__all__ = ["SPEC", "SegmentSettings"]


def _source(settings: SegmentSettings, context: PluginContext) -> Source:
    from cdp_segment.source import SegmentSource

    return SegmentSource(settings, context)


def _sink(settings: SegmentSettings, context: PluginContext) -> Sink:
    from cdp_segment.sink import SegmentSink

    return SegmentSink(settings, context)


def _emulator(options: EmulatorOptions) -> Emulator:
    from cdp_segment.emulator import SegmentEmulator

    return SegmentEmulator(options)


def _webhook(settings: SegmentSettings, options: ListenOptions) -> None:
    from cdp_segment.webhook import serve

    serve(settings, options.workspace, options.host, options.port, ready=options.ready)


def _demo(base_url: str, cast: DemoCast) -> DemoPart:
    from cdp_segment.demo import demo_setup

    return demo_setup(base_url, cast)


def _check(
    settings: SegmentSettings, context: PluginContext, role: CheckRole
) -> Sequence[ConnectionCheck]:
    from cdp_segment.check import check_connection

    return check_connection(settings, context, role)


SPEC = PluginSpec(
    name="segment",
    description="Segment: S3 archive and webhook events in, computed traits out as identify calls",
    capabilities=frozenset(
        {
            Capability.SOURCE_EVENTS,
            Capability.SOURCE_PROFILES,
            Capability.SINK_TRAITS,
            Capability.SINK_LISTS,
            Capability.EMULATOR,
        }
    ),
    settings_model=SegmentSettings,
    source=_source,
    sink=_sink,
    emulator=_emulator,
    listeners={"webhook": _webhook},
    sdk_loggers=("segment",),
    demo=DemoRole(sdk="segment.analytics", plays=frozenset({"web"}), setup=_demo),
    check_connection=_check,
)
