"""``connector check``: the config, its plugins, and (unless ``--offline``) one real,
authenticated call per source and destination, each answer printed with its host, status and
what to fix. A check sends once with a short timeout: a wrong port fails in seconds, not after a
run's minutes of retries."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape

from connector.cli.common import (
    ConfigOpt,
    ExitCode,
    LogFormatOpt,
    SecretsOpt,
    console,
    handle_errors,
    load,
    safe,
)
from connector.config.models import AppConfig
from connector.errors import ConfigError, ConnectorError
from connector.plugin.protocols import CheckRole, ConnectionCheck

if TYPE_CHECKING:
    from connector.workspace import Workspace

__all__ = ["check"]


@handle_errors
def check(
    config: ConfigOpt = None,
    secrets: SecretsOpt = None,
    log_format: LogFormatOpt = None,
    offline: Annotated[
        bool, typer.Option("--offline", help="Check the config only; call no platform.")
    ] = False,
    connect: Annotated[
        bool,
        typer.Option("--connect", help="Call each platform once (the default; see --offline)."),
    ] = True,
) -> None:
    """Validate the config and its plugins, then call each source and destination once."""
    from connector.workspace import Workspace

    cfg = load(config, secrets, log_format)
    where = str(cfg.config_path or "the config file")
    console.print(f"config: {safe(where)}", highlight=False, soft_wrap=True)
    _check_rules(cfg)
    ws = Workspace(cfg)
    failed = 0
    try:
        for kind, name, plugin in _sections(cfg):
            _build(ws, kind, name, plugin, where)
            if offline or not connect:
                console.print(f"[green]ok[/green] {kind}.{safe(name)} ({safe(plugin)})")
                continue
            failed += _connect(ws, kind, name, plugin)
        console.print(f"workspace: {safe(ws.path)}", highlight=False, soft_wrap=True)
    finally:
        ws.close()
    if failed:
        console.print(
            f"[red]{failed} connection check(s) failed[/red]: fix the settings named above "
            f"in {safe(where)} (secrets in the environment or the secrets file)",
            highlight=False,
            soft_wrap=True,
        )
        raise typer.Exit(ExitCode.FAILED)


def _sections(cfg: AppConfig) -> list[tuple[str, str, str]]:
    out = [("sources", n, s.plugin) for n, s in cfg.sources.items() if s.enabled]
    return out + [("destinations", n, d.plugin) for n, d in cfg.destinations.items() if d.enabled]


def _settings(ws: Workspace, kind: str, name: str) -> object:
    table = ws.config.sources if kind == "sources" else ws.config.destinations
    return table[name].settings


def _build(ws: Workspace, kind: str, name: str, plugin: str, where: str) -> None:
    """Construct and close the source or sink: settings the factory refuses name the file."""
    spec = ws.registry.get(plugin)
    factory = spec.source if kind == "sources" else spec.sink
    if factory is None:
        raise ConfigError(f"{where}: {kind}.{name}.plugin: {plugin} cannot be a {kind[:-1]}")
    try:
        factory(_settings(ws, kind, name), ws.plugin_context(kind, name, None)).close()
    except ConfigError as exc:
        raise ConfigError(f"{where}: {exc}") from None


def _connect(ws: Workspace, kind: str, name: str, plugin: str) -> int:
    """Print each endpoint's answer; return how many failed."""
    spec = ws.registry.get(plugin)
    label = f"{kind}.{safe(name)} ({safe(plugin)})"
    if spec.check_connection is None:
        console.print(f"[yellow]?[/yellow]  {label}: this plugin has no connection check")
        return 0
    role: CheckRole = "source" if kind == "sources" else "sink"
    try:
        results = spec.check_connection(
            _settings(ws, kind, name), ws.plugin_context(kind, name, None), role
        )
    except ConnectorError as exc:
        console.print(f"[red]FAIL[/red] {label}: {safe(exc)}", highlight=False, soft_wrap=True)
        return 1
    except Exception as exc:  # noqa: BLE001 - one plugin's broken check never hides the others
        console.print(
            f"[red]FAIL[/red] {label}: the check itself failed ({safe(type(exc).__name__)})",
            highlight=False,
        )
        return 1
    if not results:
        console.print(f"[green]ok[/green] {label}: nothing to connect to")
    for result in results:
        console.print(_line(label, result), highlight=False, soft_wrap=True)
    return sum(not r.ok for r in results)


def _line(label: str, r: ConnectionCheck) -> str:
    status = f"HTTP {r.status}, " if r.status is not None else ("" if r.ok else "no answer, ")
    mark = "[green]ok[/green]  " if r.ok else "[red]FAIL[/red]"
    text = f"{mark} {label} {safe(r.what)} at {safe(r.host)}: {status}{safe(r.detail)}"
    return text + (f"\n     fix: {safe(r.fix)}" if r.fix and not r.ok else "")


def _check_rules(cfg: AppConfig) -> None:
    """Type-check rule segments against the columns the full engine computes, naming each."""
    from connector.modelling.rules import check_rules

    if cfg.model.engine != "full":
        return
    problems = check_rules(cfg.model.core)
    if problems:
        raise ConfigError("model.core.rule_segments: " + "; ".join(problems))
    for rule in cfg.model.core.rule_segments:
        console.print(f"[green]ok[/green] rule segment {escape(rule.id)}", highlight=False)
