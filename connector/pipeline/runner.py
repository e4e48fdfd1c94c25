"""One run: pull → unify → model → plan → apply → record.

Each stage is a function over the stores; the runner times them, counts what they did, records
every per-record error, and sets the run's status. A failing source or destination is recorded
and the run goes on with the others (status ``partial``); a dry run plans and stops there.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from connector.engine import identity_resolver
from connector.errors import ConfigError, DiskFullError
from connector.identity.unify import unify
from connector.modelling.output import ModelOutput
from connector.pipeline.activate import apply_all, hold_large_first_syncs, plan_all
from connector.pipeline.heap import frozen_heap
from connector.pipeline.model import run_model_stage
from connector.pipeline.progress import NoProgress, Progress
from connector.pipeline.pull import pull_source
from connector.pipeline.stores import bind_stores
from connector.pipeline.warm import warm_imports
from connector.privacy import erase
from connector.runctl.crashpoints import pausepoint
from connector.runctl.lock import run_lock
from connector.runctl.stop import stop_requested
from connector.state.quarantine import QuarantineStore
from connector.store.diskfull import full_path, is_disk_full
from connector.sync.plan import DestinationPlan
from connector.workspace import Workspace

__all__ = ["RunSummary", "new_run_id", "run_pipeline"]

log = logging.getLogger(__name__)


def new_run_id() -> str:
    return datetime.now(UTC).strftime("r%Y%m%dT%H%M%S") + "-" + secrets.token_hex(3)


@dataclass(slots=True)
class RunSummary:
    run_id: str
    status: str
    dry_run: bool
    counts: dict[str, int] = field(default_factory=dict)
    stages: dict[str, Any] = field(default_factory=dict)
    plans: dict[str, DestinationPlan] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)
    # what the user must read but is no failure (predictive scores held for too few buyers)
    notices: list[str] = field(default_factory=list)
    report: Path | None = None

    @contextmanager
    def timed(self, name: str) -> Iterator[dict[str, Any]]:
        """Wall seconds, and CPU seconds of the process (every thread): on a shared host the
        second is what a stage cost, and what the scale test compares between sizes."""
        entry: dict[str, Any] = {}
        start, cpu = time.perf_counter(), time.process_time()
        try:
            yield entry
        finally:
            entry["seconds"] = round(time.perf_counter() - start, 3)
            entry["cpu_seconds"] = round(time.process_time() - cpu, 3)
            self.stages[name] = entry

    def close(self) -> None:
        """Free every plan's database (DuckDB's tables, Spark's views and local Parquet) once
        the caller has shown the plans: a scheduler or a notebook lives on after a run."""
        for plan in self.plans.values():
            plan.close()


def run_pipeline(
    ws: Workspace,
    *,
    dry_run: bool = False,
    progress: Progress | None = None,
    full_refresh: bool = False,
    confirm_creates: bool = False,
    only_segments: frozenset[str] | None = None,
) -> RunSummary:
    """One run. ``full_refresh`` resets every source cursor first (see ``pipeline.stores``);
    without it a run refuses to start on a data store and a state store that are not a pair.
    ``confirm_creates`` lets a destination's first sync create more than
    ``sync.max_first_creates`` records (``connector run --yes``).
    ``only_segments`` limits memberships to those segments: the others are left as they are
    (neither added to nor removed from) at every destination.

    A full disk, however a store words it, ends the run as one ``DiskFullError`` naming where.
    """
    if full_refresh and dry_run:
        raise ConfigError("--full-refresh cannot be combined with --dry-run")
    try:
        with warm_imports():  # the model stage's libraries, while pull and unify work
            return _run(
                ws, dry_run, progress or NoProgress(), full_refresh, confirm_creates, only_segments
            )
    except DiskFullError:
        raise
    except Exception as exc:
        if is_disk_full(exc):
            raise _disk_full(ws, exc) from exc
        raise


def _disk_full(ws: Workspace, exc: BaseException) -> DiskFullError:
    if isinstance(exc, DiskFullError):
        return exc
    where = full_path(exc)
    if where is None:  # SQLite and PostgreSQL do not name the file
        where = ws.config.workspace.state_url or str(ws.path / "state.db")
        where = make_url(where).render_as_string(hide_password=True)
    return DiskFullError(where)


def _run(
    ws: Workspace,
    dry_run: bool,
    progress: Progress,
    full_refresh: bool,
    confirm: bool = False,
    only_segments: frozenset[str] | None = None,
) -> RunSummary:
    wait = ws.config.stream.yield_wait.total_seconds()
    with run_lock(ws.path, ws.config.workspace.state_url, stream_wait=wait):
        ws.runs.mark_abandoned()
        summary = RunSummary(new_run_id(), "running", dry_run)
        ws.runs.start(summary.run_id, dry_run=dry_run)
        pausepoint("run.locked")
        try:
            bind_stores(ws, full_refresh=full_refresh)
            _pull(ws, summary, progress)
            if not stop_requested():
                _erase_begin(ws, summary)
                _unify(ws, summary, progress, full=full_refresh)
                output = _model(ws, summary, progress)
                _activate(ws, summary, progress, output, confirm, only_segments)
                _erase_finish(ws, summary, output.hold_activation)
            if stop_requested():
                summary.status = "interrupted"
                summary.failures.append("stopped on request (SIGTERM); the next run resumes")
        except BaseException as exc:
            _record_failure(ws, summary, exc)
            raise
        ws.runs.update(
            summary.run_id,
            status=summary.status,
            stages=summary.stages,
            counts=summary.counts,
            message="; ".join([*summary.failures, *summary.notices]) or None,
            ended=True,
        )
        _finish(ws, summary)
        return summary


def _record_failure(ws: Workspace, summary: RunSummary, exc: BaseException) -> None:
    """Record the failed run; on a full disk that may fail too, and the disk error stands."""
    summary.status = "failed"
    full = isinstance(exc, Exception) and is_disk_full(exc)
    message = str(_disk_full(ws, exc)) if full else f"{type(exc).__name__}: {exc}"
    try:
        ws.runs.update(
            summary.run_id,
            status="failed",
            stages=summary.stages,
            counts=summary.counts,
            message=message,
            ended=True,
        )
        _finish(ws, summary)
    except Exception as inner:
        if not (full or is_disk_full(inner)):
            raise
        log.error("run %s: failure not recorded: the disk is full", summary.run_id)


def _finish(ws: Workspace, summary: RunSummary) -> None:
    """Write the run's HTML report and send alerts; neither may fail the run itself."""
    from connector.report import write_report
    from connector.report.alerts import send_alerts

    try:
        summary.report = write_report(ws, summary.run_id)
    except Exception as exc:  # noqa: BLE001 - a report is a by-product; the run stands
        log.warning("run %s: report not written: %s", summary.run_id, exc)
    row = ws.runs.get(summary.run_id)
    if row is not None:
        send_alerts(ws.config.alerts, row, summary.report)


def _pull(ws: Workspace, summary: RunSummary, progress: Progress) -> None:
    counts = summary.counts
    counts.update(
        pulled=0, new=0, unchanged=0, quarantined=0, already_quarantined=0, warnings=0, suppressed=0
    )
    with summary.timed("pull") as entry:
        for name, cfg in ws.config.sources.items():
            if not cfg.enabled:
                continue
            with progress.stage(f"pull {name}") as advance:
                res = pull_source(
                    ws, name, cfg, run_id=summary.run_id, dry_run=summary.dry_run, progress=advance
                )
            entry[name] = {"streams": res.streams, "failed": res.failed}
            counts["pulled"] += res.pulled
            counts["new"] += res.new
            counts["unchanged"] += res.unchanged
            counts["quarantined"] += res.quarantined
            counts["already_quarantined"] += res.already_quarantined
            counts["warnings"] += res.warnings
            counts["suppressed"] += res.suppressed
            if res.failed:
                summary.failures.append(f"source {name}: {res.failed}")
        if not summary.dry_run:
            retention = ws.config.pull.quarantine_retention
            QuarantineStore(ws.state).prune(datetime.now(UTC) - retention)


def _erase_begin(ws: Workspace, summary: RunSummary) -> None:
    """Privacy requests: mark the people to erase before unify (``connector.privacy.erase``)."""
    if summary.dry_run:
        return
    with summary.timed("erase") as entry:
        erase.prune(ws, datetime.now(UTC) - ws.config.privacy.retention)
        res = erase.begin(ws)
        entry["requests"] = res.requests
    summary.counts["erasure_requests"] = res.requests
    pausepoint("erase.begun")


def _erase_finish(ws: Workspace, summary: RunSummary, held: bool) -> None:
    """Complete the requests every destination has cleared (after apply, never on a hold)."""
    if summary.dry_run or held:
        return
    res = erase.finish(ws)
    entry = summary.stages.setdefault("erase", {})
    entry.update(completed=res.completed, destinations_left=res.destinations_left)
    summary.counts.update(
        erasure_completed=res.completed, erasure_destinations_left=res.destinations_left
    )
    if res.destinations_left:
        summary.failures.append(
            f"privacy: {res.destinations_left} destination(s) not yet cleared of erased people;"
            " the next run retries (connector forget --status)"
        )
        summary.status = "partial"


def _unify(ws: Workspace, summary: RunSummary, progress: Progress, *, full: bool) -> None:
    """Resolve identities (all of them on ``--full-refresh``, else what changed)."""
    ident = ws.config.identity
    with summary.timed("unify") as entry, progress.stage("unify"):
        res = unify(
            ws.data,
            blocked=ident.blocked_values,
            max_ids_per_kind=ident.max_ids_per_kind,
            run_id=summary.run_id,
            full=full,
            resolve_all=identity_resolver(ws.config.engine),
        )
        entry.update(
            profiles=res.profiles,
            merged=res.merged,
            refused=res.refused,
            inactive=res.inactive,
            resolved=res.resolved,
            full=res.full,
        )
        summary.counts.update(
            profiles=res.profiles,
            merged=res.merged,
            merge_refused=res.refused,
            inactive=res.inactive,
        )


def _model(ws: Workspace, summary: RunSummary, progress: Progress) -> ModelOutput:
    with summary.timed("model") as entry, progress.stage("model"):
        output = run_model_stage(ws, run_id=summary.run_id, dry_run=summary.dry_run)
        sizes = output.memberships.groupby("segment_id").size()
        entry["segments"] = {s.id: int(sizes.get(s.id, 0)) for s in output.segments}
        entry["names"] = {s.id: s.name for s in output.segments}
        if output.drift:
            entry["drift"] = output.drift
        if output.hold_activation:
            entry["hold"] = True
        if output.rule_failures:
            entry["rule_failures"] = dict(output.rule_failures)
            summary.failures.extend(output.rule_failures.values())
        if output.sufficiency:
            entry["sufficiency"] = output.sufficiency
        if output.held_traits:
            entry["held_traits"] = list(output.held_traits)
            lists = ""
            if output.held_segments:
                entry["held_segments"] = dict(output.held_segments)
                names = {s.id: s.name for s in output.segments}
                held = ", ".join(names.get(i, i) for i in output.held_segments)
                lists = f", nor the lists built on them ({held}: memberships left as they are)"
            said = summary.failures if output.sufficiency.get("stale", True) else summary.notices
            said.append(
                f"predictive traits not pushed ({', '.join(output.held_traits)}){lists}: "
                + "; ".join(output.sufficiency.get("reasons", []))
                + " (set [model.core] push_insufficient_scores = true to push them anyway)"
            )
    return output


def _activate(
    ws: Workspace,
    summary: RunSummary,
    progress: Progress,
    output: ModelOutput,
    confirm: bool = False,
    only_segments: frozenset[str] | None = None,
) -> None:
    if only_segments is not None:  # checked by the CLI against the catalogue, empty at first
        unknown = sorted(only_segments - {s.id for s in output.segments})
        if unknown:
            known = ", ".join(sorted(s.id for s in output.segments)) or "none"
            summary.failures.append(
                f"--segment {', '.join(unknown)}: no such segment in this run ({known}); "
                "no memberships were synced for it"
            )
    with ws.data.lend_memory():  # the store answers small queries while the planner works
        _plan_and_apply(ws, summary, progress, output, confirm, only_segments)


def _compact_ledger(ws: Workspace) -> None:
    """Drop the ledger's deleted keys once they outnumber its rows (a new epoch), before the
    plan, which then copies each destination's ledger afresh once and applies refresh from
    there. Only bookkeeping for the copies: a failure is logged, never fails the run."""
    try:
        dropped = ws.ledger.compact_gone()
    except SQLAlchemyError as exc:
        log.warning("ledger: deleted keys not compacted (%s)", type(exc).__name__)
        return
    if dropped:
        log.info("ledger: %d deleted keys outnumbered its rows and were dropped", dropped)


def _plan_and_apply(
    ws: Workspace,
    summary: RunSummary,
    progress: Progress,
    output: ModelOutput,
    confirm: bool,
    only_segments: frozenset[str] | None,
) -> None:
    counts = summary.counts
    if not summary.dry_run:
        _compact_ledger(ws)
    with summary.timed("plan") as entry, progress.stage("plan"):
        act = plan_all(ws, output, summary.run_id, only_segments)
        summary.plans = act.plans
        entry.update({name: plan.split() for name, plan in act.plans.items()})
        if not summary.dry_run:
            hold_large_first_syncs(ws, act, confirmed=confirm)
        counts["planned"] = sum(p.total for p in act.plans.values())
    counts.update(applied=0, rejected=0, retryable=0)
    if summary.dry_run or output.hold_activation:
        for sink in act.sinks.values():
            sink.close()
        summary.failures.extend(act.failures)
        if output.hold_activation:  # a dry run's plan says so too: a run would not apply it
            summary.failures.append(
                "activation held: drift passed the configured threshold"
                if not summary.dry_run
                else "activation would be held: drift passed the configured threshold"
            )
        summary.status = "dry_run" if summary.dry_run else "partial"
        return
    with summary.timed("apply") as entry, frozen_heap():
        entry.update(apply_all(ws, act, summary.run_id, progress, counts))
    summary.failures.extend(act.failures)
    if summary.failures:
        summary.status = "partial"
    elif counts["rejected"] or counts["quarantined"] or counts["retryable"]:
        summary.status = "completed_with_rejects"
    else:
        summary.status = "completed"
