"""HubSpot plugin: contacts and closed-won deals in; typed contact properties and lists out.

Factories import the SDK lazily, so listing plugins never pays for ``hubspot-api-client``.
"""

from __future__ import annotations

from typing import Any

from cdp_hubspot.settings import HubSpotSettings
from connector.plugin.spec import (
    Capability,
    Emulator,
    EmulatorOptions,
    PluginContext,
    PluginSpec,
    Sink,
    Source,
)

__all__ = ["SPEC", "HubSpotSettings"]


def _source(settings: Any, context: PluginContext) -> Source:
    from cdp_hubspot.source import HubSpotSource

    return HubSpotSource(HubSpotSettings.model_validate(settings), context)


def _sink(settings: Any, context: PluginContext) -> Sink:
    from cdp_hubspot.sink import HubSpotSink

    return HubSpotSink(HubSpotSettings.model_validate(settings), context)


def _emulator(options: EmulatorOptions) -> Emulator:
    from cdp_hubspot.emulator import HubSpotEmulator

    return HubSpotEmulator(options)


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
    secret_fields=("access_token",),
)
