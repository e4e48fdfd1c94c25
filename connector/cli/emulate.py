"""``connector emulate``: run platform emulators in the foreground on 127.0.0.1."""

from __future__ import annotations

import errno
import time
from contextlib import ExitStack
from typing import Annotated

import typer

from connector.cli.common import console, handle_errors, safe
from connector.errors import ConfigError
from connector.plugin.registry import PluginRegistry
from connector.plugin.spec import EmulatorOptions

__all__ = ["emulate"]


@handle_errors
def emulate(
    platforms: Annotated[
        list[str], typer.Argument(help="Platforms to emulate, e.g. hubspot klaviyo.")
    ],
    port: Annotated[int, typer.Option(help="First port (0 = any free port); the next get +1.")] = 0,
    seed_profiles: Annotated[
        int, typer.Option("--seed-profiles", min=0, help="Profiles to seed.")
    ] = 0,
    limits: Annotated[
        str, typer.Option(help="'real' enforces documented limits, 'off' does not.")
    ] = "real",
) -> None:
    """Serve emulators until interrupted; prints each base URL."""
    if limits not in ("real", "off"):
        raise ConfigError(f"--limits: expected 'real' or 'off', got {limits!r}")
    registry = PluginRegistry()
    with ExitStack() as stack:
        for i, name in enumerate(platforms):
            spec = registry.get(name)
            if spec.emulator is None:
                raise ConfigError(f"plugin {name} has no emulator")
            opts = EmulatorOptions(
                port=port + i if port else 0,
                seed_profiles=seed_profiles,
                limits="real" if limits == "real" else "off",
            )
            try:
                emu = stack.enter_context(spec.emulator(opts))
            except OSError as exc:
                if exc.errno != errno.EADDRINUSE:
                    raise
                raise ConfigError(
                    f"{name}: port {opts.port} is already in use; pass another --port, or "
                    "leave it out for free ports"
                ) from None
            console.print(
                f"{safe(name)}: {safe(emu.base_url)}  "
                f"(admin: {safe(emu.base_url)}/__emulator__/state)",
                highlight=False,
                soft_wrap=True,
            )
        console.print("serving; Ctrl-C to stop")
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            console.print("stopped")
