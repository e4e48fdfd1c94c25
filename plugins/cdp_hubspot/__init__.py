"""HubSpot plugin: contacts and closed-won deals in; typed contact properties and lists out.

Factories import the SDK lazily, so listing plugins never pays for ``hubspot-api-client``.
"""

from __future__ import annotations

from collections.abc import Sequence

from cdp_hubspot.settings import HubSpotSettings
from connector.sdk import (
    Capability,
    CheckRole,
    ConnectionCheck,
    DemoCast,
    DemoPart,
    DemoRole,
    Emulator,
    EmulatorOptions,
    PluginContext,
    PluginSpec,
    Sink,
    Source,
)

__all__ = ["SPEC", "HubSpotSettings"]


def _source(settings: HubSpotSettings, context: PluginContext) -> Source:
    from cdp_hubspot.source import HubSpotSource

    return HubSpotSource(HubSpotSettings.model_validate(settings), context)


def _sink(settings: HubSpotSettings, context: PluginContext) -> Sink:
    from cdp_hubspot.sink import HubSpotSink

    return HubSpotSink(HubSpotSettings.model_validate(settings), context)


def _emulator(options: EmulatorOptions) -> Emulator:
    from cdp_hubspot.emulator import HubSpotEmulator

    return HubSpotEmulator(options)


def _demo(base_url: str, cast: DemoCast) -> DemoPart:
    from cdp_hubspot.demo import demo_setup

    return demo_setup(base_url, cast)


def _check(
    settings: HubSpotSettings, context: PluginContext, role: CheckRole
) -> Sequence[ConnectionCheck]:
    from cdp_hubspot.check import check_connection

    return check_connection(settings, context, role)


SPEC = PluginSpec(
    name="hubspot",
    description="HubSpot CRM: contacts and closed-won deals in; traits as contact properties "
    "and segments as MANUAL lists out",
    capabilities=frozenset(
        {
            Capability.SOURCE_PROFILES,
            Capability.SOURCE_EVENTS,
            Capability.SINK_TRAITS,
            Capability.SINK_LISTS,
            Capability.EMULATOR,
        }
    ),
    settings_model=HubSpotSettings,
    source=_source,
    sink=_sink,
    emulator=_emulator,
    sdk_loggers=("hubspot",),
    demo=DemoRole(sdk="hubspot", plays=frozenset({"crm"}), setup=_demo),
    check_connection=_check,
)
