"""Read-only commands: runs, runs show, plugins, profiles explain."""

from __future__ import annotations

from contextlib import nullcontext
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape
from rich.table import Table

from connector.cli.common import (
    ConfigOpt,
    ExitCode,
    console,
    err,
    handle_errors,
    load,
    revealing,
    safe,
)
from connector.cli.render import print_errors, print_runs
from connector.errors import ConfigError
from connector.plugin.registry import PluginRegistry
from connector.redaction import neutralise_controls

if TYPE_CHECKING:
    from connector.identity.explain import Explanation

__all__ = ["plugins", "profiles_app", "runs_app"]

runs_app = typer.Typer(
    help="List runs, or show one with its per-record errors.", invoke_without_command=True
)
profiles_app = typer.Typer(help="Inspect unified profiles.", no_args_is_help=True)


@runs_app.callback()
@handle_errors
def runs(
    ctx: typer.Context,
    config: ConfigOpt = None,
    limit: Annotated[int, typer.Option(help="How many recent runs.")] = 20,
) -> None:
    """List recent runs."""
    from connector.workspace import Workspace

    if ctx.invoked_subcommand is not None:
        return
    ws = Workspace(load(config))
    try:
        print_runs(console, ws.runs.recent(limit))
    finally:
        ws.close()


@runs_app.command("show")
@handle_errors
def runs_show(
    run_id: Annotated[str, typer.Argument(help="Run id (a unique prefix is enough).")],
    config: ConfigOpt = None,
    limit: Annotated[int, typer.Option(help="Errors to show (0 = all).")] = 200,
) -> None:
    """Show one run: status, stage timings and counts, and per-record errors with reasons."""
    from connector.report.collect import source_warnings
    from connector.workspace import Workspace

    ws = Workspace(load(config))
    try:
        row = ws.runs.get(run_id)
        if row is None:
            raise ConfigError(f"no single run matches {run_id!r} (see `connector runs`)")
        console.print(
            f"[bold]{safe(row.run_id)}[/bold] {safe(row.status)}  "
            f"started {safe(row.started_at)}  ended {safe(row.ended_at)}"
        )
        if row.message:
            console.print(f"message: {safe(row.message)}", highlight=False, soft_wrap=True)
        table = Table(title="Counts")
        table.add_column("count")
        table.add_column("value", justify="right")
        for key, value in row.counts.items():
            table.add_row(safe(key), safe(value))
        console.print(table)
        stages = Table(title="Stages")
        stages.add_column("stage")
        stages.add_column("seconds", justify="right")
        for name, data in row.stages.items():
            seconds = data.get("seconds", "") if isinstance(data, dict) else ""
            stages.add_row(safe(name), safe(seconds))
        console.print(stages)
        for source, stream, count, samples in source_warnings(row):
            console.print(
                f"source {safe(source)} stream {safe(stream)}: {count} warning(s): {safe(samples)}",
                highlight=False,
                soft_wrap=True,
            )
        errors = ws.runs.errors(row.run_id, limit or None)
        console.print(
            f"{row.error_count} per-record errors"
            + (f" (showing {len(errors)})" if len(errors) < row.error_count else "")
        )
        if errors:
            print_errors(console, errors)
    finally:
        ws.close()


def _revealed(value: object) -> str:
    """What ``--reveal`` prints: identifiers as stored, but inert for the terminal and Rich."""
    return escape(neutralise_controls(str(value)))


@handle_errors
def plugins(config: ConfigOpt = None) -> None:
    """List installed plugins and their capabilities (broken ones with the reason)."""
    registry = PluginRegistry()
    specs, broken = registry.load_all()
    table = Table(title="Plugins")
    for col in ("name", "capabilities", "description"):
        table.add_column(col)
    for spec in specs:
        table.add_row(
            safe(spec.name),
            safe(", ".join(sorted(c.value for c in spec.capabilities))),
            safe(spec.description),
        )
    console.print(table)
    for b in broken:
        err.print(
            f"[yellow]broken plugin {safe(b.name)} ({safe(b.target)}): {safe(b.reason)}[/yellow]",
            highlight=False,
            soft_wrap=True,
        )


@profiles_app.command("explain")
@handle_errors
def explain(
    profile_id: Annotated[str, typer.Argument(help="A profile id, e.g. p_1a2b3c4d5e6f7a8b.")],
    config: ConfigOpt = None,
    reveal: Annotated[bool, typer.Option("--reveal", help="Show identifiers unmasked.")] = False,
) -> None:
    """Show a profile's identifiers, source records and the merges that joined them."""
    from connector.identity.explain import explain_profile
    from connector.workspace import Workspace

    ws = Workspace(load(config))
    try:
        exp = explain_profile(ws.data, profile_id, reveal=reveal)
    finally:
        ws.close()
    with revealing() if reveal else nullcontext():
        _print_explanation(profile_id, exp, reveal=reveal)


def _print_explanation(profile_id: str, exp: Explanation | None, *, reveal: bool) -> None:
    if exp is None:
        err.print(f"no profile {safe(profile_id)}", highlight=False)
        raise typer.Exit(ExitCode.FAILED)
    if exp.merged_into:
        console.print(f"{safe(profile_id)} was merged into [bold]{safe(exp.merged_into)}[/bold]")
    console.print(f"[bold]profile {safe(exp.merged_into or exp.profile_id)}[/bold]")
    # --reveal shows identifiers unmasked on purpose; control characters and markup never pass
    shown = _revealed if reveal else safe
    console.print(
        "identifiers: " + ", ".join(f"{shown(k)}={shown(v)}" for k, v in exp.identities),
        highlight=False,
        soft_wrap=True,
    )
    console.print("records: " + ", ".join(map(shown, exp.records)), highlight=False, soft_wrap=True)
    if exp.retired:
        console.print("absorbed profile ids: " + ", ".join(map(safe, exp.retired)), highlight=False)
    if exp.merges:
        table = Table(title="Merges")
        for col in ("record", "joined", "via", "identifier", "result"):
            table.add_column(col)
        for a, b, kind, value, ok, note in exp.merges:
            table.add_row(*map(shown, (a, b, kind, value, "merged" if ok else note)))
        console.print(table)
    else:
        console.print("no merges: a single source record")
