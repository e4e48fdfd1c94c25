"""Klaviyo: profiles and events in (incremental), traits and lists out, plus a local emulator.

All calls go through the official ``klaviyo-api`` SDK, imported lazily by the factories.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from connector.plugin.spec import Capability, EmulatorOptions, PluginContext, PluginSpec

from cdp_klaviyo.settings import KlaviyoSettings

if TYPE_CHECKING:
    from cdp_klaviyo.emulator import KlaviyoEmulator
    from cdp_klaviyo.sink import KlaviyoSink
    from cdp_klaviyo.source import KlaviyoSource

__all__ = ["SPEC", "KlaviyoSettings"]


def _source(settings: Any, ctx: PluginContext) -> KlaviyoSource:  # noqa: ANN401 - factory contract
    from cdp_klaviyo.source import KlaviyoSource  # noqa: PLC0415 - lazy SDK import

    return KlaviyoSource(KlaviyoSettings.model_validate(settings), ctx)


def _sink(settings: Any, ctx: PluginContext) -> KlaviyoSink:  # noqa: ANN401 - factory contract
    from cdp_klaviyo.sink import KlaviyoSink  # noqa: PLC0415 - lazy SDK import

    return KlaviyoSink(KlaviyoSettings.model_validate(settings), ctx)


def _emulator(options: EmulatorOptions) -> KlaviyoEmulator:
    from cdp_klaviyo.emulator import KlaviyoEmulator  # noqa: PLC0415

    return KlaviyoEmulator(options)


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
    secret_fields=("api_key",),
)
