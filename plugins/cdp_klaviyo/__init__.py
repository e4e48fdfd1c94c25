"""Klaviyo: profiles and events in (incremental), traits and lists out, plus a local emulator.

All calls go through the official ``klaviyo-api`` SDK, imported lazily by the factories.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from cdp_klaviyo.settings import KlaviyoSettings
from connector.sdk import (
    Capability,
    CheckRole,
    ConnectionCheck,
    DemoCast,
    DemoPart,
    DemoRole,
    EmulatorOptions,
    PluginContext,
    PluginSpec,
)

if TYPE_CHECKING:
    from cdp_klaviyo.emulator import KlaviyoEmulator
    from cdp_klaviyo.sink import KlaviyoSink
    from cdp_klaviyo.source import KlaviyoSource

__all__ = ["SPEC", "KlaviyoSettings"]


def _source(settings: KlaviyoSettings, ctx: PluginContext) -> KlaviyoSource:
    from cdp_klaviyo.source import KlaviyoSource

    return KlaviyoSource(KlaviyoSettings.model_validate(settings), ctx)


def _sink(settings: KlaviyoSettings, ctx: PluginContext) -> KlaviyoSink:
    from cdp_klaviyo.sink import KlaviyoSink

    return KlaviyoSink(KlaviyoSettings.model_validate(settings), ctx)


def _emulator(options: EmulatorOptions) -> KlaviyoEmulator:
    from cdp_klaviyo.emulator import KlaviyoEmulator

    return KlaviyoEmulator(options)


def _demo(base_url: str, cast: DemoCast) -> DemoPart:
    from cdp_klaviyo.demo import demo_setup

    return demo_setup(base_url, cast)


def _check(
    settings: KlaviyoSettings, context: PluginContext, role: CheckRole
) -> Sequence[ConnectionCheck]:
    from cdp_klaviyo.check import check_connection

    return check_connection(settings, context, role)


SPEC = PluginSpec(
    name="klaviyo",
    description="Klaviyo profiles and events in; traits (bulk import jobs) and lists out",
    capabilities=frozenset(
        {
            Capability.SOURCE_PROFILES,
            Capability.SOURCE_EVENTS,
            Capability.SINK_TRAITS,
            Capability.SINK_LISTS,
            Capability.EMULATOR,
        }
    ),
    settings_model=KlaviyoSettings,
    source=_source,
    sink=_sink,
    emulator=_emulator,
    sdk_loggers=("klaviyo_api", "openapi_client"),
    demo=DemoRole(sdk="klaviyo_api", plays=frozenset({"marketing"}), setup=_demo),
    check_connection=_check,
)
