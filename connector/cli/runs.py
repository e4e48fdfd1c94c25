"""``connector runs`` and ``connector runs show``: what each run did, per source and
destination, and its per-record errors, searchable by email, source id or profile id."""

from __future__ import annotations

from dataclasses import asdict
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from connector.cli.common import ConfigOpt, console, handle_errors, load, safe
from connector.cli.options import OutputOpt, print_json
from connector.cli.render import print_errors, print_runs
from connector.errors import ConfigError

if TYPE_CHECKING:
    from connector.state.runs import RecordError, RunRow
    from connector.workspace import Workspace

__all__ = ["runs_app"]

_NUMBERS = ("read", "new", "quarantined")
runs_app = typer.Typer(
    help="List runs, or show one with its per-record errors.", invoke_without_command=True
)


def _run_json(row: RunRow) -> dict[str, Any]:
    return {
        "run_id": row.run_id,
        "started_at": row.started_at,
        "ended_at": row.ended_at,
        "status": row.status,
        "dry_run": row.dry_run,
        "counts": row.counts,
        "errors": row.error_count,
        "message": row.message,
    }


@runs_app.callback()
@handle_errors
def runs(
    ctx: typer.Context,
    config: ConfigOpt = None,
    limit: Annotated[int, typer.Option(help="How many recent runs.")] = 20,
    output: OutputOpt = "table",
) -> None:
    """List recent runs."""
    from connector.workspace import Workspace

    if ctx.invoked_subcommand is not None:
        return
    ws = Workspace(load(config, read_only=True))
    try:
        recent = ws.runs.recent(limit)
    finally:
        ws.close()
    if output == "json":
        print_json([_run_json(r) for r in recent])
    else:
        print_runs(console, recent)


def source_rows(row: RunRow) -> list[dict[str, Any]]:
    """One row per source and stream: read, new, quarantined, and the source's failure."""
    out = []
    for source, data in (row.stages.get("pull") or {}).items():
        if not isinstance(data, dict):
            continue
        for stream, s in (data.get("streams") or {}).items():
            keep = ("pulled", "new", "quarantined", "suppressed", "mark")
            out.append({"source": source, "stream": stream, **{k: s.get(k) for k in keep}})
        if data.get("failed"):
            out.append({"source": source, "stream": None, "failed": data["failed"]})
    return out


def destination_rows(row: RunRow) -> list[dict[str, Any]]:
    """One row per destination: planned per action, applied, rejected, left to retry."""
    planned = row.stages.get("plan") or {}
    applied = row.stages.get("apply") or {}
    out = []
    # a stage's entry holds one dict per destination beside its own figures (seconds, ...)
    names = {n for stage in (planned, applied) for n, v in stage.items() if isinstance(v, dict)}
    for name in sorted(names):
        plan: dict[str, Any] = _table(planned.get(name))
        done: dict[str, Any] = _table(applied.get(name))
        out.append(
            {
                "destination": name,
                "planned": plan,
                "applied": done.get("applied", 0),
                "rejected": done.get("rejected", 0),
                "retryable": done.get("retryable", 0),
                "skipped": done.get("skipped", {}),
            }
        )
    return out


def _table(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _matching(ws: Workspace, errors: list[RecordError], search: str) -> list[RecordError]:
    """Errors about the person or record ``search`` names (email, source id or profile id)."""
    from connector.identity.lookup import find_profile

    profile = find_profile(ws.data, search)
    needle = search.strip().lower()
    return [
        e
        for e in errors
        if (profile is not None and e.profile_id == profile)
        or (needle and "@" not in needle and needle in (e.record_ref or "").lower())
    ]


@runs_app.command("show")
@handle_errors
def runs_show(
    run_id: Annotated[str, typer.Argument(help="Run id (a unique prefix is enough).")],
    config: ConfigOpt = None,
    limit: Annotated[int, typer.Option(help="Errors to show (0 = all).")] = 200,
    search: Annotated[
        str | None,
        typer.Option(
            "--search", help="Only errors about this email, source record id or profile id."
        ),
    ] = None,
    output: OutputOpt = "table",
) -> None:
    """Show one run: status, counts per source and destination, stage timings and the
    per-record errors with reasons (identifiers masked)."""
    from connector.workspace import Workspace

    ws = Workspace(load(config, read_only=True))
    try:
        row = ws.runs.get(run_id)
        if row is None:
            raise ConfigError(f"no single run matches {run_id!r} (see `connector runs`)")
        if search:
            errors = _matching(ws, ws.runs.errors(row.run_id, None), search)[: limit or None]
        else:
            errors = ws.runs.errors(row.run_id, limit or None)
    finally:
        ws.close()
    if output == "json":
        print_json(
            {
                **_run_json(row),
                "stages": {
                    k: v.get("seconds") for k, v in row.stages.items() if isinstance(v, dict)
                },
                **({"stream": row.stages["stream"]} if "stream" in row.stages else {}),
                "sources": source_rows(row),
                "destinations": destination_rows(row),
                "record_errors": [asdict(e) for e in errors],
            }
        )
        return
    _print_run(row, errors, search)


def _print_run(row: RunRow, errors: list[RecordError], search: str | None) -> None:
    from connector.report.collect import source_warnings

    console.print(
        f"[bold]{safe(row.run_id)}[/bold] {safe(row.status)}  "
        f"started {safe(row.started_at)}  ended {safe(row.ended_at)}"
    )
    if row.message:
        console.print(f"message: {safe(row.message)}", highlight=False, soft_wrap=True)
    sources = Table(title="Sources")
    numbers = ("read", "new", "quarantined", "erased")  # erased: of people a request erased
    for col in ("source", "stream", *numbers, "failed"):
        sources.add_column(col, justify="right" if col in numbers else "left")
    for s in source_rows(row):
        sources.add_row(
            *map(
                safe,
                (
                    s["source"],
                    s["stream"] or "-",
                    s.get("pulled", "-"),
                    s.get("new", "-"),
                    s.get("quarantined", "-"),
                    s.get("suppressed", "-"),
                    s.get("failed") or "",
                ),
            )
        )
    console.print(sources)
    dests = Table(title="Destinations")
    for col in ("destination", "planned", "applied", "rejected", "to retry", "skipped"):
        dests.add_column(col)
    for d in destination_rows(row):
        planned = ", ".join(f"{v} {k}" for k, v in d["planned"].items() if k != "seconds")
        skipped = ", ".join(f"{n} {why}" for why, n in sorted(d["skipped"].items())) or "0"
        dests.add_row(
            *map(
                safe,
                (d["destination"], planned, d["applied"], d["rejected"], d["retryable"], skipped),
            )
        )
    console.print(dests)
    stages = Table(title="Stages")
    stages.add_column("stage")
    stages.add_column("seconds", justify="right")
    for name, data in row.stages.items():
        seconds = data.get("seconds", "") if isinstance(data, dict) else ""
        stages.add_row(safe(name), safe(seconds))
    console.print(stages)
    _print_stream(row.stages.get("stream"))
    for source, stream, count, samples in source_warnings(row):
        console.print(
            f"source {safe(source)} stream {safe(stream)}: {count} warning(s): {safe(samples)}",
            highlight=False,
            soft_wrap=True,
        )
    about = f" about {safe(search)}" if search else ""
    shown = f" (showing {len(errors)})" if not search and len(errors) < row.error_count else ""
    total = len(errors) if search else row.error_count
    console.print(f"{total} per-record errors{about}{shown}", highlight=False)
    if errors:
        print_errors(console, errors)


def _print_stream(stream: Any) -> None:
    """A stream session's last minutes: events, membership changes, latency percentiles."""
    if not isinstance(stream, dict) or not stream.get("minutes"):
        return
    table = Table(title="Stream, per minute (latency in seconds)")
    keys = ("minute", "events", "membership_changes", "latency_p50", "latency_p95", "latency_p99")
    for key in keys:
        table.add_column(key.replace("_", " "), justify="left" if key == "minute" else "right")
    for minute in stream["minutes"][-30:]:
        table.add_row(*(safe("" if minute.get(k) is None else minute.get(k)) for k in keys))
    console.print(table)
