"""HubSpot plugin: contacts and closed-won deals in; typed contact properties and lists out.

Factories import the SDK lazily, so listing plugins never pays for ``hubspot-api-client``.
"""

from __future__ import annotations

from typing import Any

from connector.plugin.spec import (
    Capability,
    Emulator,
    EmulatorOptions,
    PluginContext,
    PluginSpec,
    Sink,
    Source,
)

from cdp_hubspot.settings import HubSpotSettings

__all__ = ["SPEC", "HubSpotSettings"]


def _source(settings: Any, context: PluginContext) -> Source:  # noqa: ANN401
    from cdp_hubspot.source import HubSpotSource  # noqa: PLC0415

    return HubSpotSource(HubSpotSettings.model_validate(settings), context)


def _sink(settings: Any, context: PluginContext) -> Sink:  # noqa: ANN401
    from cdp_hubspot.sink import HubSpotSink  # noqa: PLC0415

    return HubSpotSink(HubSpotSettings.model_validate(settings), context)


def _emulator(options: EmulatorOptions) -> Emulator:
    from cdp_hubspot.emulator import HubSpotEmulator  # noqa: PLC0415

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
