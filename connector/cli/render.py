"""Tables the commands print: run summaries, plans, run lists, errors."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.table import Table

from connector.cli.common import safe
from connector.cli.plan_sample import sample_lines
from connector.redaction import mask_email

if TYPE_CHECKING:
    from connector.pipeline.runner import RunSummary
    from connector.plugin.changes import Change
    from connector.state.runs import RecordError, RunRow
    from connector.sync.plan import DestinationPlan

__all__ = ["plan_json", "print_errors", "print_plan", "print_runs", "print_summary"]


def print_plan(console: Console, plans: dict[str, DestinationPlan], *, sample: int = 5) -> None:
    table = Table(title="Plan (what would change)", show_lines=False)
    cols = ("create", "update", "add", "remove")
    for col in ("destination", *cols, "skipped"):
        table.add_column(col, justify="right" if col != "destination" else "left")
    for name, plan in plans.items():
        c = plan.split()
        skipped = ", ".join(f"{n} {why}" for why, n in sorted(plan.skipped.items())) or "0"
        table.add_row(safe(name), *(str(c[k]) for k in cols), safe(skipped))
    console.print(table)
    for name, plan in plans.items():
        lines = sample_lines(plan, sample)
        if lines:
            console.print(f"[bold]{safe(name)}[/bold] sample:", highlight=False)
            for line in lines:
                console.print(safe(line), highlight=False, soft_wrap=True)


def print_summary(console: Console, s: RunSummary) -> None:
    table = Table(title=f"Run {safe(s.run_id)}: {safe(s.status)}")
    table.add_column("stage")
    table.add_column("result")
    table.add_column("seconds", justify="right")
    c = s.counts
    rows = {
        "pull": f"{c.get('pulled', 0)} records"
        + (f" ({c['unchanged']} unchanged)" if c.get("unchanged") else "")
        + f", {c.get('quarantined', 0)} quarantined"
        + (f", {c['warnings']} source warnings" if c.get("warnings") else "")
        + (f", {c['suppressed']} of erased people dropped" if c.get("suppressed") else ""),
        "unify": f"{c.get('profiles', 0)} profiles, {c.get('merged', 0)} merges",
        "model": _model_row(s.stages.get("model", {})),
        "plan": f"{c.get('planned', 0)} changes",
        "apply": f"{c.get('applied', 0)} applied, {c.get('rejected', 0)} rejected, "
        f"{c.get('retryable', 0)} to retry",
    }
    for stage, text in rows.items():
        secs = s.stages.get(stage, {}).get("seconds")
        table.add_row(stage, safe(text), f"{secs:.2f}" if isinstance(secs, float | int) else "-")
    console.print(table)
    for failure in s.failures:
        console.print(f"[yellow]! {safe(failure)}[/yellow]", highlight=False, soft_wrap=True)
    for notice in s.notices:
        console.print(f"[yellow]note: {safe(notice)}[/yellow]", highlight=False, soft_wrap=True)


def _model_row(model: dict[str, Any]) -> str:
    sizes: dict[str, int] = model.get("segments") or {}
    names: dict[str, str] = model.get("names") or {}
    parts = [f"{names.get(k, k)} {v}" for k, v in sizes.items()]
    drift = model.get("drift")
    status = drift.get("status") if isinstance(drift, dict) else None
    held = " (predictive scores held: data insufficient)" if model.get("held_traits") else ""
    return "; ".join(parts) + (f" (drift: {status})" if status else "") + held


_RUN_COUNTS = ("pulled", "planned", "applied", "rejected")
# Below this width the eight columns cannot all be read, so the counts fold under the status.
_WIDE_RUNS = 110


def _run_cells(r: RunRow) -> tuple[str, str, str, list[str]]:
    status = r.status + (" (dry run)" if r.dry_run and r.status != "dry_run" else "")
    counts = [str(r.counts.get(k, "")) for k in _RUN_COUNTS] + [str(r.error_count)]
    return r.run_id, r.started_at[:16].replace("T", " "), status, counts


def print_runs(console: Console, runs: list[RunRow]) -> None:
    """Recent runs; on a narrow terminal the counts go on a second line under the status, so a
    run id, its status and its numbers stay readable at 80 columns."""
    if console.width < _WIDE_RUNS:
        narrow = Table(title="Runs")
        narrow.add_column("run", no_wrap=True)
        narrow.add_column("status and counts", overflow="fold")
        for r in runs:
            run_id, started, status, counts = _run_cells(r)
            named = ", ".join(
                f"{k} {v}" for k, v in zip((*_RUN_COUNTS, "errors"), counts, strict=True) if v
            )
            narrow.add_row(safe(run_id), safe(f"{status}, {started}\n{named}"))
        console.print(narrow)
        return
    table = Table(title="Runs")
    for col in ("run", "started", "status", *_RUN_COUNTS, "errors"):
        table.add_column(
            col, no_wrap=True, justify="left" if col in ("run", "started", "status") else "right"
        )
    for r in runs:
        run_id, started, status, counts = _run_cells(r)
        table.add_row(*map(safe, (run_id, started, status, *counts)))
    console.print(table)


def print_errors(console: Console, errors: list[RecordError]) -> None:
    table = Table(title="Per-record errors")
    for col in ("stage", "plugin", "record", "profile", "reason", "retry"):
        table.add_column(col, overflow="fold")
    for e in errors:
        table.add_row(
            *map(
                safe,
                (
                    e.stage,
                    e.plugin,
                    e.record_ref or "",
                    e.profile_id or "",
                    e.reason,
                    "yes" if e.retryable else "",
                ),
            )
        )
    console.print(table)


def _person(change: Change) -> dict[str, Any]:
    """A change's person for a script: masked email and profile id, never the raw address."""
    return {"profile_id": change.recipient.profile_id, "email": mask_email(change.recipient.email)}


def plan_json(plans: dict[str, DestinationPlan], *, sample: int = 5) -> dict[str, Any]:
    """The plan for ``--output json``: counts, skips and a masked sample per destination."""
    out: dict[str, Any] = {}
    for name, plan in plans.items():
        out[name] = {
            "counts": plan.counts(),
            "skipped": dict(plan.skipped),
            "sample": [
                {"action": str(ch.kind), **_person(ch), "traits": dict(ch.traits)}
                for ch in plan.upserts[:sample]
            ]
            + [
                {
                    "action": str(ch.kind),
                    **_person(ch),
                    "segment": ch.segment.name if ch.segment else None,
                    "segment_id": ch.segment.id if ch.segment else None,
                }
                for ch in (*plan.adds[:sample], *plan.removes[:sample])
            ],
        }
    return out
