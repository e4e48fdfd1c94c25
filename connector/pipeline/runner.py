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
from typing import Any

from filelock import FileLock, Timeout

from connector.errors import ConnectorError, RunLockedError
from connector.identity.unify import unify
from connector.pipeline.model import run_model_stage
from connector.pipeline.pull import pull_source
from connector.pipeline.reporter import NullReporter, Reporter
from connector.pipeline.workspace import Workspace
from connector.plugin.spec import Sink
from connector.state.runs import RecordError
from connector.sync.apply import apply_plan
from connector.sync.changes import SegmentRef
from connector.sync.desired import build_desired
from connector.sync.plan import DestinationPlan, plan_destination

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


class _Stages:
    def __init__(self) -> None:
        self.data: dict[str, Any] = {}

    @contextmanager
    def timed(self, name: str) -> Iterator[dict[str, Any]]:
        entry: dict[str, Any] = {}
        start = time.perf_counter()
        try:
            yield entry
        finally:
            entry["seconds"] = round(time.perf_counter() - start, 3)
            self.data[name] = entry


@contextmanager
def _run_lock(ws: Workspace) -> Iterator[None]:
    lock = FileLock(str(ws.path / "run.lock"))
    try:
        lock.acquire(timeout=0)
    except Timeout:
        raise RunLockedError(
            f"another run holds the lock on {ws.path} (wait for it, or check `connector runs`)"
        ) from None
    try:
        yield
    finally:
        lock.release()


def run_pipeline(
    ws: Workspace, *, dry_run: bool = False, reporter: Reporter | None = None
) -> RunSummary:
    reporter = reporter or NullReporter()
    with _run_lock(ws):
        run_id = new_run_id()
        ws.runs.start(run_id, dry_run=dry_run)
        summary = RunSummary(run_id, "running", dry_run)
        stages = _Stages()
        try:
            _run(ws, run_id, dry_run, reporter, summary, stages)
        except BaseException as exc:
            summary.status = "failed"
            ws.runs.update(
                run_id,
                status="failed",
                stages=stages.data,
                counts=summary.counts,
                message=f"{type(exc).__name__}: {exc}",
                ended=True,
            )
            raise
        summary.stages = stages.data
        ws.runs.update(
            run_id,
            status=summary.status,
            stages=stages.data,
            counts=summary.counts,
            message="; ".join(summary.failures) or None,
            ended=True,
        )
        return summary


def _run(
    ws: Workspace,
    run_id: str,
    dry_run: bool,
    reporter: Reporter,
    summary: RunSummary,
    stages: _Stages,
) -> None:
    counts = summary.counts
    counts.update(pulled=0, new=0, quarantined=0)
    errors: list[RecordError] = []
    with stages.timed("pull") as entry:
        for name, cfg in ws.config.sources.items():
            if not cfg.enabled:
                continue
            with reporter.stage(f"pull {name}") as advance:
                res = pull_source(ws, name, cfg, run_id=run_id, dry_run=dry_run, progress=advance)
            entry[name] = {"streams": res.streams, "failed": res.failed}
            counts["pulled"] += res.pulled
            counts["new"] += res.new
            counts["quarantined"] += res.quarantined
            errors.extend(res.errors)
            if res.failed:
                summary.failures.append(f"source {name}: {res.failed}")
        ws.runs.add_errors(run_id, errors)
        errors.clear()
    with stages.timed("unify") as entry, reporter.stage("unify"):
        ident = ws.config.identity
        res_u = unify(
            ws.data,
            blocked=ident.blocked_values,
            max_ids_per_kind=ident.max_ids_per_kind,
            run_id=run_id,
        )
        entry.update(profiles=res_u.profiles, merged=res_u.merged, refused=res_u.refused)
        counts.update(profiles=res_u.profiles, merged=res_u.merged, merge_refused=res_u.refused)
    with stages.timed("model") as entry, reporter.stage("model"):
        output = run_model_stage(ws, run_id=run_id, dry_run=dry_run)
        entry.update(
            segments={
                s.id: int((output.memberships["segment_id"] == s.id).sum()) for s in output.segments
            }
        )
    segments = [SegmentRef(s.id, s.name, s.description) for s in output.segments]
    with stages.timed("plan") as entry:
        desired = build_desired(ws.data, output.scores, output.memberships, output.traits, segments)
        sinks: dict[str, Sink] = {}
        for name, cfg in ws.config.destinations.items():
            if not cfg.enabled:
                continue
            spec = ws.registry.get(cfg.plugin)
            if spec.sink is None:
                summary.failures.append(f"destination {name}: plugin {cfg.plugin} has no sink")
                continue
            try:
                sink = spec.sink(cfg.settings, ws.plugin_context("destinations", name, run_id))
            except ConnectorError as exc:
                summary.failures.append(f"destination {name}: {exc}")
                continue
            sinks[name] = sink
            plan = plan_destination(
                name,
                desired,
                ws.ledger.entries(name),
                traits=cfg.traits,
                segments=cfg.segments,
                consent_channel=sink.consent,
                consent_policy=cfg.consent_policy,
                accepts=getattr(sink, "accepts", None),
            )
            summary.plans[name] = plan
            entry[name] = plan.counts()
        counts["planned"] = sum(p.total for p in summary.plans.values())
    counts.update(applied=0, rejected=0, retryable=0)
    if dry_run:
        for sink in sinks.values():
            sink.close()
        summary.status = "dry_run"
        return
    if output.hold_activation:
        summary.failures.append("activation held by the drift policy")
    with stages.timed("apply") as entry:
        for name, sink in sinks.items():
            plan = summary.plans[name]
            try:
                if plan.total and not output.hold_activation:
                    with reporter.stage(f"apply {name}", total=plan.total) as advance:
                        sink.prepare(
                            desired.trait_specs,
                            _activated(segments, ws.config.destinations[name].segments),
                        )
                        res = apply_plan(
                            plan,
                            sink,
                            ws.ledger,
                            run_id=run_id,
                            retry_rounds=ws.config.sync.retry_rounds,
                            progress=advance,
                        )
                    entry[name] = {
                        "applied": res.applied,
                        "rejected": res.rejected,
                        "retryable": res.retryable,
                    }
                    counts["applied"] += res.applied
                    counts["rejected"] += res.rejected
                    counts["retryable"] += res.retryable
                    ws.runs.add_errors(run_id, res.errors)
                    _store_learned(ws, name, res.learned)
                    if res.failed:
                        summary.failures.append(f"destination {name}: {res.failed}")
            except ConnectorError as exc:
                summary.failures.append(f"destination {name}: {exc}")
                log.error("destination %s failed: %s", name, exc)
            finally:
                sink.close()
    if summary.failures:
        summary.status = "partial"
    elif counts["rejected"] or counts["quarantined"] or counts["retryable"]:
        summary.status = "completed_with_rejects"
    else:
        summary.status = "completed"


def _activated(segments: list[SegmentRef], wanted: tuple[str, ...] | str) -> list[SegmentRef]:
    return [s for s in segments if wanted == "all" or s.id in wanted]


def _store_learned(ws: Workspace, destination: str, learned: list[tuple[str, str, str]]) -> None:
    if not learned:
        return
    ws.data.con.executemany(
        "INSERT OR REPLACE INTO learned_ids VALUES (?, ?, ?, ?)",
        [[pid, kind, value, destination] for pid, kind, value in learned],
    )
