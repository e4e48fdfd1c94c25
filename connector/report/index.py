"""The index page across runs: every run with its status and counts, linked to its report, and
segment sizes and changes sent over time. Rebuilt whenever a run's report is written."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from connector.report import charts
from connector.report.history import parse_time
from connector.report.page import CSP, environment, human_time
from connector.workspace import Workspace

__all__ = ["render_index"]

_RUNS = 200


def render_index(ws: Workspace, reports: Path) -> str:
    runs = ws.runs.recent(limit=_RUNS)
    rows: list[dict[str, Any]] = []
    sizes: dict[str, list[tuple[Any, float]]] = {}
    sent: list[tuple[Any, float]] = []
    for run in runs:
        report = reports / f"{run.run_id}.html"
        c = run.counts
        rows.append(
            {
                "started": human_time(run.started_at),
                "run_id": run.run_id,
                "link": report.name if report.exists() else "",
                "status": run.status.replace("_", " "),
                "profiles": int(c.get("profiles", 0)),
                "applied": int(c.get("applied", 0)),
                "rejected": int(c.get("rejected", 0)),
            }
        )
    for run in reversed(runs):
        at = parse_time(run.started_at)
        if at is None:
            continue
        model = run.stages.get("model") or {}
        names = model.get("names") or {}
        for sid, size in (model.get("segments") or {}).items():
            sizes.setdefault(str(names.get(sid, sid)), []).append((at, float(size)))
        if not run.dry_run:
            sent.append((at, float(run.counts.get("applied", 0))))
    many = len(runs) > 1
    context = {
        "csp": CSP,
        "runs": rows,
        "sizes_chart": charts.sizes_over_time(
            "Segment sizes per run (control group included)", sizes
        )
        if many and sizes
        else "",
        "sent_chart": charts.sizes_over_time(
            "Changes sent per run", {"changes sent": sent}, unit="changes"
        )
        if many and len(sent) > 1
        else "",
    }
    return environment().get_template("index.html.j2").render(context)
