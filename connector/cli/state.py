"""``connector state show|reset [SOURCE[.STREAM]]``: the sources' high-water marks.

Resetting a mark makes the next run re-read that source or stream from the start (records
already stored are recognised, so nothing is sent twice); ``run --full-refresh`` resets them all
and also accepts a data store rebuilt from scratch.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Annotated

import typer
from rich.table import Table

from connector.cli.common import ConfigOpt, console, handle_errors, load, safe
from connector.cli.options import OutputOpt, print_json
from connector.errors import ConfigError

__all__ = ["state_app"]

state_app = typer.Typer(help="Show or reset the sources' high-water marks.", no_args_is_help=True)
Target = Annotated[
    str | None,
    typer.Argument(help="A source name, or SOURCE.STREAM; default every source."),
]


def _split(target: str | None) -> tuple[str | None, str | None]:
    if not target:
        return None, None
    source, _, stream = target.partition(".")
    return source, stream or None


def _known_source(source: str | None, sources: Collection[str]) -> None:
    """A typo in the target is said, not answered with an empty table."""
    if source is not None and source not in sources:
        known = ", ".join(sorted(sources)) or "none"
        raise ConfigError(f"no source named {source!r} (known: {known})")


@state_app.command("show")
@handle_errors
def show(target: Target = None, config: ConfigOpt = None, output: OutputOpt = "table") -> None:
    """Each source stream's mark (where the next run starts reading) and the run that set it."""
    from connector.workspace import Workspace

    source, stream = _split(target)
    cfg = load(config, read_only=True)
    _known_source(source, cfg.sources)
    ws = Workspace(cfg)
    try:
        rows = [
            r
            for r in ws.cursors.rows()
            if (source is None or r[0] == source) and (stream is None or r[1] == stream)
        ]
    finally:
        ws.close()
    if output == "json":
        keys = ("source", "stream", "mark", "updated_at", "run_id")
        print_json([dict(zip(keys, r, strict=True)) for r in rows])
        return
    table = Table(title="Source marks (the next run reads from here, minus the lookback)")
    for col in ("source", "stream", "mark", "set at", "by run"):
        table.add_column(col)
    for r in rows:
        table.add_row(*map(safe, (r[0], r[1], r[2], r[3][:19].replace("T", " "), r[4] or "")))
    console.print(table)
    if not rows:
        console.print("no marks yet: the next run reads every source from the start")


@state_app.command("reset")
@handle_errors
def reset(
    target: Target = None,
    config: ConfigOpt = None,
    yes: Annotated[
        bool, typer.Option("--yes", help="Reset every source's marks (needed without a target).")
    ] = False,
) -> None:
    """Forget marks so the next run re-reads that source (or stream) from the start."""
    from connector.identity.graph import forget_resolved_graph
    from connector.runctl.lock import run_lock
    from connector.workspace import Workspace

    source, stream = _split(target)
    cfg = load(config, read_only=True)
    if source is None and not yes:
        raise ConfigError("name a source (or SOURCE.STREAM), or pass --yes to reset every mark")
    _known_source(source, cfg.sources)
    ws = Workspace(cfg)
    try:
        if source is not None and stream is not None:  # a typo must not reset the graph
            marked = sorted({st for (src, st) in ws.cursors.all() if src == source})
            if stream not in marked:
                raise ConfigError(
                    f"source {source} has no mark for stream {stream!r} (streams with marks: "
                    f"{', '.join(marked) or 'none yet'}); nothing was reset"
                )
        with run_lock(ws.path, cfg.workspace.state_url):  # never under a running run's feet
            forgotten = ws.cursors.reset(source, stream)
            forget_resolved_graph(ws.data.con)  # the re-read records are resolved whole
    finally:
        ws.close()
    what = target or "every source"
    console.print(
        f"reset {forgotten} mark(s) of {safe(what)}: the next run re-reads it from the start",
        highlight=False,
    )
