"""Read-only commands: runs, runs show, plugins, profiles explain."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from connector.cli.common import ConfigOpt, ExitCode, console, err, handle_errors, load
from connector.cli.render import print_errors, print_runs
from connector.errors import ConfigError
from connector.plugin.registry import PluginRegistry

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
    from connector.pipeline import Workspace

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
    from connector.pipeline import Workspace

    ws = Workspace(load(config))
    try:
        row = ws.runs.get(run_id)
        if row is None:
            raise ConfigError(f"no single run matches {run_id!r} (see `connector runs`)")
        console.print(
            f"[bold]{row.run_id}[/bold] {row.status}  "
            f"started {row.started_at}  ended {row.ended_at}"
        )
        if row.message:
            console.print(f"message: {row.message}", highlight=False, soft_wrap=True)
        table = Table(title="Counts")
        table.add_column("count")
        table.add_column("value", justify="right")
        for key, value in row.counts.items():
            table.add_row(key, str(value))
        console.print(table)
        stages = Table(title="Stages")
        stages.add_column("stage")
        stages.add_column("seconds", justify="right")
        for name, data in row.stages.items():
            stages.add_row(name, str(data.get("seconds", "")))
        console.print(stages)
        errors = ws.runs.errors(row.run_id, limit or None)
        console.print(
            f"{row.error_count} per-record errors"
            + (f" (showing {len(errors)})" if len(errors) < row.error_count else "")
        )
        if errors:
            print_errors(console, errors)
    finally:
        ws.close()


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
            spec.name, ", ".join(sorted(c.value for c in spec.capabilities)), spec.description
        )
    console.print(table)
    for b in broken:
        err.print(
            f"[yellow]broken plugin {b.name} ({b.target}): {b.reason}[/yellow]",
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
    from connector.pipeline import Workspace

    ws = Workspace(load(config))
    try:
        exp = explain_profile(ws.data, profile_id, reveal=reveal)
    finally:
        ws.close()
    if exp is None:
        err.print(f"no profile {profile_id}")
        raise typer.Exit(ExitCode.FAILED)
    if exp.merged_into:
        console.print(f"{profile_id} was merged into [bold]{exp.merged_into}[/bold]")
    console.print(f"[bold]profile {exp.merged_into or exp.profile_id}[/bold]")
    console.print(
        "identifiers: " + ", ".join(f"{k}={v}" for k, v in exp.identities),
        highlight=False,
        soft_wrap=True,
    )
    console.print("records: " + ", ".join(exp.records), highlight=False, soft_wrap=True)
    if exp.retired:
        console.print("absorbed profile ids: " + ", ".join(exp.retired), highlight=False)
    if exp.merges:
        table = Table(title="Merges")
        for col in ("record", "joined", "via", "identifier", "result"):
            table.add_column(col)
        for a, b, kind, value, ok, note in exp.merges:
            table.add_row(a, b, kind, value, "merged" if ok else note)
        console.print(table)
    else:
        console.print("no merges: a single source record")
