"""The ``connector`` command line (typer + rich).

Exit codes: 0 success; 1 a run or command failed; 2 bad usage or configuration; 3 the run
completed with rejected, quarantined or still-retrying records (or a source/destination failed);
4 another run holds the run lock.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from connector.cli import check as check_cmd
from connector.cli import config_cmd
from connector.cli import demo as demo_cmd
from connector.cli import emulate as emulate_cmd
from connector.cli import forget as forget_cmd
from connector.cli import inspect as inspect_cmd
from connector.cli import listen as listen_cmd
from connector.cli import models as models_cmd
from connector.cli import report as report_cmd
from connector.cli import runs as runs_cmd
from connector.cli import schedule as schedule_cmd
from connector.cli import state as state_cmd
from connector.cli import stream as stream_cmd
from connector.cli.common import (
    ConfigOpt,
    ExitCode,
    LogFormatOpt,
    SecretsOpt,
    console,
    err,
    handle_errors,
    is_tty,
    load,
    safe,
)
from connector.cli.options import (
    DestinationOpt,
    OutputOpt,
    SegmentOpt,
    SourceOpt,
    known_segments,
    narrow,
    print_json,
)
from connector.cli.progress import RichProgress
from connector.cli.render import plan_json, print_plan, print_summary
from connector.config.example import example_config
from connector.errors import ConfigError

__all__ = ["app", "main"]

app = typer.Typer(
    name="connector",
    help="Pull profiles and events, unify, score and segment them, and push the results back.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.add_typer(runs_cmd.runs_app, name="runs")
app.add_typer(inspect_cmd.profiles_app, name="profiles")
app.add_typer(models_cmd.models_app, name="models")
app.add_typer(models_cmd.segments_app, name="segments")
app.add_typer(state_cmd.state_app, name="state")
app.add_typer(config_cmd.config_app, name="config")
app.add_typer(inspect_cmd.plugins_app, name="plugins")
app.command("check")(check_cmd.check)
app.command("demo")(demo_cmd.demo)
app.command("emulate")(emulate_cmd.emulate)
app.command("listen")(listen_cmd.listen)
app.command("stream")(stream_cmd.stream)
app.command("schedule")(schedule_cmd.schedule)
app.command("report")(report_cmd.report)
app.command("forget")(forget_cmd.forget)


@app.command()
@handle_errors
def init(
    config: ConfigOpt = None,
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing file.")] = False,
) -> None:
    """Write a commented config file (default ./connector.toml)."""
    target = config or Path("connector.toml")
    if target.exists() and not force:
        raise ConfigError(f"{target} already exists (use --force to overwrite)")
    target.write_text(example_config())
    console.print(
        f"wrote {safe(target)}: edit the sources and destinations, then run `connector check`"
    )


@app.command()
@handle_errors
def run(
    config: ConfigOpt = None,
    secrets: SecretsOpt = None,
    log_format: LogFormatOpt = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Plan and print; change nothing.")
    ] = False,
    full_refresh: Annotated[
        bool,
        typer.Option(
            "--full-refresh",
            help="Reset every source cursor and re-read all sources (the recovery after a "
            "lost data store or state store; the ledger is kept).",
        ),
    ] = False,
    yes: Annotated[
        bool,
        typer.Option(
            "--yes",
            help="Let a destination's first sync create more records than "
            "sync.max_first_creates (see `connector plan` for the creates).",
        ),
    ] = False,
    source: SourceOpt = None,
    destination: DestinationOpt = None,
    segment: SegmentOpt = None,
) -> None:
    """Run the pipeline once: pull, unify, model, plan, apply (or a subset of it)."""
    from connector.pipeline import run_pipeline
    from connector.runctl.stop import install_sigterm_handler
    from connector.workspace import Workspace

    cfg = narrow(load(config, secrets, log_format), source, destination)
    install_sigterm_handler()
    ws = Workspace(cfg)
    try:
        progress = RichProgress(
            err, enabled=is_tty() and (log_format or cfg.logging.format) == "text"
        )
        summary = run_pipeline(
            ws,
            dry_run=dry_run,
            progress=progress,
            full_refresh=full_refresh,
            confirm_creates=yes,
            only_segments=known_segments((e.segment_id for e in ws.catalogue.all()), segment),
        )
    finally:
        ws.close()
    if dry_run:
        print_plan(console, summary.plans)
    summary.close()
    print_summary(console, summary)
    if summary.report:
        console.print(f"report: {safe(summary.report)}", highlight=False, soft_wrap=True)
    # a dry run's status is "dry_run" whatever failed: its failures decide, as for `plan`
    if summary.status in ("partial", "completed_with_rejects", "interrupted") or (
        dry_run and summary.failures
    ):
        console.print(f"details: connector runs show {safe(summary.run_id)}")
        raise typer.Exit(ExitCode.REJECTS)


@app.command()
@handle_errors
def plan(
    config: ConfigOpt = None,
    secrets: SecretsOpt = None,
    log_format: LogFormatOpt = None,
    output: OutputOpt = "table",
) -> None:
    """Print what a run would change (counts per destination and action, and a sample)."""
    from connector.pipeline import run_pipeline
    from connector.workspace import Workspace

    cfg = load(config, secrets, log_format)
    ws = Workspace(cfg)
    try:
        progress = RichProgress(
            err, enabled=is_tty() and (log_format or cfg.logging.format) == "text"
        )
        summary = run_pipeline(ws, dry_run=True, progress=progress)
    finally:
        ws.close()
    if output == "json":
        print_json(plan_json(summary.plans))
    else:
        print_plan(console, summary.plans)
    summary.close()
    for notice in summary.notices:  # scores held for too few buyers: said, not a failure
        err.print(f"note: {safe(notice)}", highlight=False, soft_wrap=True)
    if summary.failures:  # a plan from part of the data, or with stale scores held, says so
        for failure in summary.failures:
            err.print(f"note: {safe(failure)}", highlight=False, soft_wrap=True)
        raise typer.Exit(ExitCode.REJECTS)


def main() -> None:
    app()
