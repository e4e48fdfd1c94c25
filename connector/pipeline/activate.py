"""Plan and apply stages: desired state → per-destination plans → batched, acknowledged sync."""

from __future__ import annotations

import logging
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

from connector.errors import ConnectorError
from connector.logs import redact
from connector.modelling.output import ModelOutput
from connector.pipeline.progress import Progress
from connector.plugin.changes import SegmentRef
from connector.plugin.defaults import with_hook_defaults
from connector.plugin.protocols import ReplacesMembers
from connector.plugin.spec import Capability, Sink
from connector.state.runs import RecordError
from connector.sync.apply import apply_plan
from connector.sync.consent import ConsentPolicy
from connector.sync.desired import DesiredState, build_desired
from connector.sync.plan import DestinationPlan, plan_destination
from connector.sync.replace import replace_plan
from connector.workspace import Workspace

__all__ = ["Activation", "apply_all", "plan_all"]

log = logging.getLogger(__name__)


@dataclass(slots=True)
class Activation:
    desired: DesiredState
    sinks: dict[str, Sink] = field(default_factory=dict)
    plans: dict[str, DestinationPlan] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)


def plan_all(ws: Workspace, output: ModelOutput, run_id: str) -> Activation:
    segments = [SegmentRef(s.id, s.name, s.description) for s in output.segments]
    desired = build_desired(ws.data, output.scores, output.memberships, output.traits, segments)
    act = Activation(desired)
    for name, cfg in ws.config.destinations.items():
        if not cfg.enabled:
            continue
        spec = ws.registry.get(cfg.plugin)
        if spec.sink is None:
            act.failures.append(f"destination {name}: plugin {cfg.plugin} has no sink")
            continue
        try:
            sink = with_hook_defaults(
                spec.sink(cfg.settings, ws.plugin_context("destinations", name, run_id))
            )
        except ConnectorError as exc:
            act.failures.append(f"destination {name}: {exc}")
            continue
        except Exception as exc:  # noqa: BLE001 - one destination never stops another
            act.failures.append(_unexpected(name, exc))
            continue
        try:
            act.plans[name] = _plan(
                ws, name, act.desired, sink, spec.capabilities, set(output.rule_failures)
            )
        except Exception as exc:  # noqa: BLE001 - one destination never stops another
            act.failures.append(_unexpected(name, exc))
            _close(name, sink)
            continue
        act.sinks[name] = sink
    return act


def _plan(
    ws: Workspace,
    name: str,
    desired: DesiredState,
    sink: Sink,
    capabilities: frozenset[Capability],
    held: frozenset[str] | set[str],
) -> DestinationPlan:
    """One destination's plan; segments in ``held`` (a rule that failed) keep what they have."""
    cfg = ws.config.destinations[name]
    ledger = {k: e for k, e in ws.ledger.entries(name).items() if e.segment_id not in held}
    return plan_destination(
        name,
        desired,
        ledger,
        traits=cfg.traits,
        segments=cfg.segments,
        consent_channel=sink.consent,
        consent_policy=_policy(cfg.consent_policy, sink),
        trait_consent_channel=sink.trait_consent,
        accepts=sink.accepts,
        with_traits=Capability.SINK_TRAITS in capabilities,
        with_memberships=bool({Capability.SINK_LISTS, Capability.SINK_AUDIENCES} & capabilities),
        full_members=_replaces(sink),
    )


def _replaces(sink: Sink) -> bool:
    """Whether the sink swaps whole memberships (Meta's full_replace) instead of diffs."""
    return isinstance(sink, ReplacesMembers) and bool(sink.replaces_members)


def _policy(configured: ConsentPolicy | None, sink: Sink) -> ConsentPolicy:
    """The destination's configured consent policy, else the one its sink declares."""
    if configured is not None:
        return configured
    return "not_denied" if sink.consent_policy == "not_denied" else "strict"


def _unexpected(name: str, exc: BaseException) -> str:
    """A failure we did not classify, recorded redacted (its text may quote platform data)."""
    log.error("destination %s failed unexpectedly", name, exc_info=exc)
    return f"destination {name}: unexpected {type(exc).__name__}: {redact(str(exc))[:300]}"


def _unfinished(name: str, left: int, errors: list[RecordError]) -> str:
    """A destination that kept failing transiently (a portal, an outage) is named, with the
    commonest reason, so a run that could not deliver says where."""
    reasons = Counter(e.reason for e in errors if e.retryable)
    why = reasons.most_common(1)[0][0] if reasons else "retryable"
    return f"destination {name}: {left} changes left to retry next run ({redact(why)[:200]})"


def _close(name: str, sink: Sink) -> None:
    try:
        sink.close()
    except Exception as exc:  # noqa: BLE001 - closing one sink must not skip the others
        log.warning("destination %s: closing failed: %s", name, redact(repr(exc))[:300])


def _activated(segments: list[SegmentRef], wanted: tuple[str, ...] | str) -> list[SegmentRef]:
    return [s for s in segments if wanted == "all" or s.id in wanted]


def apply_all(
    ws: Workspace, act: Activation, run_id: str, progress: Progress, counts: dict[str, int]
) -> dict[str, Any]:
    """Apply every destination's plan; one failing destination never stops the others."""
    report: dict[str, Any] = {}
    for name, sink in act.sinks.items():
        plan = act.plans[name]
        entry: dict[str, Any] = {"planned": plan.counts()}
        if plan.skipped:
            entry["skipped"] = dict(plan.skipped)
        report[name] = entry
        started = time.perf_counter()
        try:
            if not plan.total:
                continue
            with progress.stage(f"apply {name}", total=plan.total) as advance:
                sink.prepare(
                    act.desired.trait_specs,
                    _activated(act.desired.segments, ws.config.destinations[name].segments),
                )
                rounds = ws.config.sync.retry_rounds
                if isinstance(sink, ReplacesMembers) and plan.members:
                    res = replace_plan(
                        plan, sink, ws.ledger, run_id=run_id, retry_rounds=rounds, progress=advance
                    )
                else:
                    res = apply_plan(
                        plan, sink, ws.ledger, run_id=run_id, retry_rounds=rounds, progress=advance
                    )
            entry.update(applied=res.applied, rejected=res.rejected, retryable=res.retryable)
            for key in ("applied", "rejected", "retryable"):
                counts[key] += entry[key]
            ws.runs.add_errors(run_id, res.errors)
            _store_learned(ws, name, res.learned)
            if res.failed:
                act.failures.append(f"destination {name}: {res.failed}")
            elif res.retryable:
                act.failures.append(_unfinished(name, res.retryable, res.errors))
        except ConnectorError as exc:
            act.failures.append(f"destination {name}: {exc}")
            log.error("destination %s failed: %s", name, exc)
        except Exception as exc:  # noqa: BLE001 - one destination's failure never skips another
            act.failures.append(_unexpected(name, exc))
        finally:
            try:
                _after_apply(ws, name, sink, entry)
            except Exception as exc:  # noqa: BLE001 - the hooks are the plugin's code
                act.failures.append(_unexpected(name, exc))
            _close(name, sink)
            entry["seconds"] = round(time.perf_counter() - started, 3)
    return report


def _after_apply(ws: Workspace, name: str, sink: Sink, entry: dict[str, Any]) -> None:
    """Hooks some sinks offer: match rates to record, audiences re-created to re-fill."""
    rates = sink.last_match_rates
    if rates:
        entry["match_rates"] = {k: round(float(v), 4) for k, v in rates.items()}
    for segment_id in sink.recreated_segments or ():
        # the platform lost the audience: forget what we delivered so the next plan re-adds it
        ws.ledger.forget_segment(name, segment_id)
        log.warning(
            "destination %s: audience for %s was re-created; it is re-filled next run",
            name,
            segment_id,
        )


def _store_learned(ws: Workspace, destination: str, learned: list[tuple[str, str, str]]) -> None:
    """One set-based statement: DuckDB's ``executemany`` runs a statement per row, which cost
    minutes for the ids a Klaviyo push learns about 20,000 profiles (the run's largest stage)."""
    latest = {(pid, kind): value for pid, kind, value in learned}  # a later one wins, as before
    if not latest:
        return
    rows = pa.table(
        {
            "profile_id": [pid for pid, _ in latest],
            "kind": [kind for _, kind in latest],
            "value": list(latest.values()),
            "destination": [destination] * len(latest),
        }
    )
    ws.data.con.register("learned_now", rows)
    try:
        ws.data.con.execute("INSERT OR REPLACE INTO learned_ids SELECT * FROM learned_now")
    finally:
        ws.data.con.unregister("learned_now")
