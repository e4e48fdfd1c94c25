"""Run reports: one self-contained HTML page per run, and alerts when a run needs a look."""

from __future__ import annotations

from pathlib import Path

from connector.errors import ConfigError
from connector.workspace import Workspace

__all__ = ["index_path", "report_path", "write_report"]


def report_path(ws: Workspace, run_id: str) -> Path:
    return ws.path / "reports" / f"{run_id}.html"


def index_path(ws: Workspace) -> Path:
    return ws.path / "reports" / "index.html"


def _write(path: Path, text: str) -> None:
    tmp = path.with_suffix(".tmp")
    # owner-only like the stores: the page holds only aggregates, but it is the workspace's
    tmp.touch(mode=0o600)
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)


def write_report(ws: Workspace, run_id: str) -> Path:
    """(Re)build the report of a run from the stores, and the index across runs; return the
    report's path."""
    from connector.report.collect import collect
    from connector.report.index import render_index
    from connector.report.page import render

    run = ws.runs.get(run_id)
    if run is None:
        raise ConfigError(f"no run {run_id!r} (see `connector runs`)")
    path = report_path(ws, run.run_id)
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    _write(path, render(collect(ws, run)))
    _write(index_path(ws), render_index(ws, path.parent))
    return path
