"""Google Customer Match destination over the Data Manager API: hashed, consent-first."""

from __future__ import annotations

from collections.abc import Sequence

from cdp_google_ads.settings import GoogleAdsSettings
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
)

__all__ = ["SPEC", "GoogleAdsSettings"]


def _sink(settings: GoogleAdsSettings, context: PluginContext) -> Sink:
    from cdp_google_ads.sink import GoogleAdsSink

    return GoogleAdsSink(settings, context)


def _emulator(options: EmulatorOptions) -> Emulator:
    from cdp_google_ads.emulator import GoogleAdsEmulator

    return GoogleAdsEmulator(options)


def _demo(base_url: str, cast: DemoCast) -> DemoPart:
    from cdp_google_ads.demo import demo_setup

    return demo_setup(base_url, cast)


def _check(
    settings: GoogleAdsSettings, context: PluginContext, role: CheckRole
) -> Sequence[ConnectionCheck]:
    from cdp_google_ads.check import check_connection

    return check_connection(settings, context, role)


SPEC = PluginSpec(
    name="google_ads",
    description="Google Customer Match via the Data Manager API (hashed, consent-filtered)",
    capabilities=frozenset({Capability.SINK_AUDIENCES, Capability.EMULATOR}),
    settings_model=GoogleAdsSettings,
    sink=_sink,
    emulator=_emulator,
    demo=DemoRole(sdk="httpx", plays=frozenset(), setup=_demo),
    check_connection=_check,
)
