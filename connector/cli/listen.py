"""``connector listen``: serve a live source's receiver (Segment's Webhooks destination, ...).

Receivers come from the plugin's spec (``PluginSpec.listeners``); the CLI knows no platform.
"""

from __future__ import annotations

from typing import Annotated

import typer

from connector.cli.common import ConfigOpt, SecretsOpt, console, handle_errors, load, safe
from connector.config.models import AppConfig, SourceConfig
from connector.errors import ConfigError
from connector.plugin.registry import PluginRegistry
from connector.plugin.spec import ListenOptions

__all__ = ["listen"]


def _find_source(cfg: AppConfig, name: str) -> tuple[str, SourceConfig]:
    if name in cfg.sources:
        return name, cfg.sources[name]
    matches = [(n, s) for n, s in cfg.sources.items() if s.plugin == name]
    if len(matches) == 1:
        return matches[0]
    if not matches:
        raise ConfigError(f"no source named {name!r} and none uses the {name!r} plugin")
    raise ConfigError(
        f"several sources use the {name!r} plugin: name one of {[n for n, _ in matches]}"
    )


@handle_errors
def listen(
    source: Annotated[
        str, typer.Argument(help="A source name, or a plugin used by one source (segment).")
    ],
    config: ConfigOpt = None,
    secrets: SecretsOpt = None,
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8787,
    listener: Annotated[
        str | None, typer.Option(help="Which receiver, when the plugin has several.")
    ] = None,
) -> None:
    """Receive webhook events, store each durably before answering, until interrupted."""
    cfg = load(config, secrets)
    name, sect = _find_source(cfg, source)
    spec = PluginRegistry().get(sect.plugin)
    if not spec.listeners:
        raise ConfigError(f"sources.{name}: the {sect.plugin} plugin has no webhook receiver")
    if listener is None and len(spec.listeners) > 1:
        raise ConfigError(f"the {sect.plugin} plugin has several receivers: pass --listener")
    chosen = listener or next(iter(spec.listeners))
    if chosen not in spec.listeners:
        raise ConfigError(
            f"the {sect.plugin} plugin has no receiver {chosen!r} (has {sorted(spec.listeners)})"
        )
    workspace = cfg.workspace.path
    workspace.mkdir(parents=True, exist_ok=True)
    spec.listeners[chosen](
        sect.settings,
        ListenOptions(
            workspace,
            host,
            port,
            ready=lambda url: console.print(
                f"listening for {safe(name)} webhooks on {safe(url)} (Ctrl-C stops)"
            ),
        ),
    )
