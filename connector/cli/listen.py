"""``connector listen``: serve a live source's webhook receiver (Segment's Webhooks destination)."""

from __future__ import annotations

from typing import Annotated

import typer

from connector.cli.common import ConfigOpt, SecretsOpt, console, handle_errors, load, safe
from connector.config.models import AppConfig, SourceConfig
from connector.errors import ConfigError

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
) -> None:
    """Receive webhook events, store each durably before answering, until interrupted."""
    cfg = load(config, secrets)
    name, sect = _find_source(cfg, source)
    if sect.plugin != "segment":
        raise ConfigError(f"sources.{name}: the {sect.plugin} plugin has no webhook receiver")
    from cdp_segment.webhook import serve

    workspace = cfg.workspace.path
    workspace.mkdir(parents=True, exist_ok=True)
    serve(
        sect.settings,
        workspace,
        host,
        port,
        ready=lambda url: console.print(
            f"listening for {safe(name)} webhooks on {safe(url)} (Ctrl-C stops)"
        ),
    )
