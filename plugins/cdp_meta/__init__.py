"""Meta (Facebook) Custom Audiences destination: hashed customer-file audiences per segment."""

from __future__ import annotations

from collections.abc import Sequence

from cdp_meta.settings import MetaSettings
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

__all__ = ["SPEC", "MetaSettings"]


def _sink(settings: MetaSettings, context: PluginContext) -> Sink:
    from cdp_meta.sink import MetaSink

    return MetaSink(settings, context)


def _emulator(options: EmulatorOptions) -> Emulator:
    from cdp_meta.emulator import MetaEmulator

    return MetaEmulator(options)


def _demo(base_url: str, cast: DemoCast) -> DemoPart:
    from cdp_meta.demo import demo_setup

    return demo_setup(base_url, cast)


def _check(
    settings: MetaSettings, context: PluginContext, role: CheckRole
) -> Sequence[ConnectionCheck]:
    from cdp_meta.check import check_connection

    return check_connection(settings, context, role)


SPEC = PluginSpec(
    name="meta",
    description="Meta Custom Audiences (customer file, hashed, consent-filtered)",
    capabilities=frozenset({Capability.SINK_AUDIENCES, Capability.EMULATOR}),
    settings_model=MetaSettings,
    sink=_sink,
    emulator=_emulator,
    sdk_loggers=("facebook_business",),
    demo=DemoRole(sdk="facebook_business", plays=frozenset(), setup=_demo),
    check_connection=_check,
)
