"""``connector report [RUN]``: print (and optionally open) a run's HTML report, rebuilding it."""

from __future__ import annotations

import webbrowser
from typing import Annotated

import typer

from connector.cli.common import ConfigOpt, SecretsOpt, console, handle_errors, load, safe
from connector.errors import ConfigError

__all__ = ["report"]


@handle_errors
def report(
    run_id: Annotated[
        str | None, typer.Argument(help="Run id or prefix; default the latest.")
    ] = None,
    config: ConfigOpt = None,
    secrets: SecretsOpt = None,
    rebuild: Annotated[
        bool, typer.Option("--rebuild", help="Rebuild even if the report exists.")
    ] = False,
    open_: Annotated[bool, typer.Option("--open", help="Open it in the browser.")] = False,
) -> None:
    """Print the path of a run's self-contained HTML report (built on demand)."""
    from connector.report import report_path, write_report
    from connector.workspace import Workspace

    cfg = load(config, secrets, read_only=True)
    ws = Workspace(cfg)
    try:
        if run_id is None:
            recent = ws.runs.recent(limit=1)
            if not recent:
                raise ConfigError("no runs yet: start one with `connector run`")
            run_id = recent[0].run_id
        row = ws.runs.get(run_id)
        if row is None:
            raise ConfigError(f"no run {run_id!r} (see `connector runs`)")
        path = report_path(ws, row.run_id)
        if rebuild or not path.exists():
            path = write_report(ws, row.run_id)
    finally:
        ws.close()
    console.print(safe(path), highlight=False, soft_wrap=True)
    if open_:
        webbrowser.open(path.as_uri())
