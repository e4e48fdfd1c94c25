"""Plan and apply stages: desired state → per-destination plans → batched, acknowledged sync."""

from __future__ import annotations

import logging
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import duckdb
import pyarrow as pa
from sqlalchemy.exc import SQLAlchemyError

from connector.engine import plan_database
from connector.errors import ConnectorError
from connector.logs import redact
from connector.modelling.output import ModelOutput
from connector.pipeline.progress import Progress
from connector.plugin.changes import SegmentRef
from connector.plugin.defaults import accepts_hook, known_hook, with_hook_defaults
from connector.plugin.protocols import PlatformRecords, ReplacesMembers, RowsPerProfile
from connector.plugin.spec import Capability, Sink
from connector.privacy.destinations import erase_at_destination
from connector.state.runs import RecordError
from connector.store.echoes import keep_created
from connector.store.memory import STORE_SHARE, share_of
from connector.sync.apply import apply_plan
from connector.sync.consent import ConsentPolicy
from connector.sync.desired import DesiredState, build_desired
from connector.sync.mirror_file import LEDGER_COPY, KeptLedger
from connector.sync.plan import DestinationPlan, plan_destination
from connector.sync.replace import replace_plan
from connector.workspace import Workspace

__all__ = [
    "Activation",
    "apply_all",
    "destination_policy",
    "hold_large_first_syncs",
    "plan_all",
    "store_learned",
]

log = logging.getLogger(__name__)


@dataclass(slots=True)
class Activation:
    desired: DesiredState
    sinks: dict[str, Sink] = field(default_factory=dict)
    plans: dict[str, DestinationPlan] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)
    held: dict[str, str] = field(default_factory=dict)
    """Destinations planned but not applied, with why (a large first sync not confirmed)."""


def plan_all(
    ws: Workspace, output: ModelOutput, run_id: str, only_segments: frozenset[str] | None = None
) -> Activation:
    """Plan every enabled destination; with ``only_segments`` the other segments are held
    (their memberships kept as they are, like a segment whose rule failed or that is built on
    forecasts held for insufficient data)."""
    segments = [SegmentRef(s.id, s.name, s.description) for s in output.segments]
    held = set(output.rule_failures) | set(output.held_segments)
    if only_segments is not None:
        held |= {s.id for s in segments} - only_segments
    desired = build_desired(ws.data, output.scores, output.memberships, output.traits, segments)
    act = Activation(desired)
    # every segment id ever produced (a retired cluster's list is emptied, not refused)
    known_segments = {e.segment_id for e in ws.catalogue.all()} | {s.id for s in segments}
    for name, cfg in ws.config.destinations.items():
        if not cfg.enabled:
            continue
        unknown = _unknown_names(ws, name, output, known_segments)
        if unknown:  # nothing of it is planned: what it names is a typo
            act.held[name] = unknown
            act.failures.append(unknown)
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
            act.plans[name] = _plan(ws, name, act.desired, sink, spec.capabilities, held)
        except Exception as exc:  # noqa: BLE001 - one destination never stops another
            act.failures.append(_unexpected(name, exc))
            _close(name, sink)
            continue
        act.sinks[name] = sink
    desired.planned()  # the digests' fragments are let go before apply
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
    return plan_destination(
        name,
        desired,
        # the workspace's copy of the ledger, refreshed by what changed since the last plan
        KeptLedger(ws.ledger, ws.path / LEDGER_COPY),
        held=held,
        hold_small_moves=ws.config.sync.hold_small_moves,
        db=plan_database(
            ws.config.engine,
            ws.path,
            name,
            share_of(ws.config.workspace.memory_limit, 1 - STORE_SHARE),
        ),
        traits=cfg.traits,
        segments=tuple(
            s.id for s in desired.segments if s.id not in held and _wanted(s.id, cfg.segments)
        ),
        consent_channel=sink.consent,
        consent_policy=destination_policy(cfg.consent_policy, sink),
        trait_consent_channel=sink.trait_consent,
        accepts=accepts_hook(sink),
        known=known_hook(sink),
        update_only=cfg.mode == "update_only",
        with_traits=Capability.SINK_TRAITS in capabilities,
        with_memberships=bool({Capability.SINK_LISTS, Capability.SINK_AUDIENCES} & capabilities),
        full_members=_replaces(sink),
        rows_per_profile=isinstance(sink, RowsPerProfile) and bool(sink.rows_per_profile),
        members_by_address=Capability.SINK_AUDIENCES in capabilities,
        record_kind=sink.record_kind if isinstance(sink, PlatformRecords) else None,
    )


def _unknown_names(
    ws: Workspace, name: str, output: ModelOutput, known_segments: set[str]
) -> str | None:
    """Why a destination is held: its ``segments`` or ``traits`` name something no run ever
    produced (a typo). Planned as written, the lists and traits it no longer names would be
    emptied at the platform without a word; ``--segment`` is refused the same way."""
    cfg = ws.config.destinations[name]
    problems = []
    if cfg.segments != "all":
        known = known_segments | set(output.rule_failures)
        if missing := sorted(set(cfg.segments) - known):
            problems.append(f"segments {missing} (known: {', '.join(sorted(known)) or 'none'})")
    if cfg.traits != "all":
        known = {t.name for t in output.traits} | set(output.held_traits)
        if missing := sorted(set(cfg.traits) - known):
            problems.append(f"traits {missing} (known: {', '.join(sorted(known)) or 'none'})")
    if not problems:
        return None
    return (
        f"destination {name}: no run produces {' or '.join(problems)}, so nothing was sent to "
        f"it (its lists and traits stay as they are); fix [destinations.{name}]"
    )


def _replaces(sink: Sink) -> bool:
    """Whether the sink swaps whole memberships (Meta's full_replace) instead of diffs."""
    return isinstance(sink, ReplacesMembers) and bool(sink.replaces_members)


def hold_large_first_syncs(ws: Workspace, act: Activation, *, confirmed: bool) -> None:
    """Hold each destination whose first sync would create more records than
    ``sync.max_first_creates``, unless ``confirmed``: platforms bill per contact, and a wrong
    source or segment must not land thousands of new ones before anyone saw the plan."""
    limit = ws.config.sync.max_first_creates
    for name, plan in act.plans.items():
        if confirmed or plan.creates <= limit or ws.ledger.has_any(name):
            continue
        why = (
            f"destination {name}: its first sync would create {plan.creates} new records "
            f"(more than sync.max_first_creates = {limit}), so nothing was sent to it; check "
            '`connector plan`, then run `connector run --yes`, or set mode = "update_only"'
        )
        act.held[name] = why
        act.failures.append(why)
        sink = act.sinks.pop(name, None)
        if sink is not None:
            _close(name, sink)


def destination_policy(configured: ConsentPolicy | None, sink: Sink) -> ConsentPolicy:
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


def _wanted(segment_id: str, wanted: tuple[str, ...] | str) -> bool:
    return wanted == "all" or segment_id in wanted


def _activated(segments: list[SegmentRef], wanted: tuple[str, ...] | str) -> list[SegmentRef]:
    return [s for s in segments if wanted == "all" or s.id in wanted]


def _plan_entry(plan: DestinationPlan, **more: Any) -> dict[str, Any]:
    """A destination's record of its plan: counts and whom it skipped and why (a first sync
    held for confirmation too), with ``more``."""
    entry: dict[str, Any] = {"planned": plan.counts(), **more}
    if plan.skipped:
        entry["skipped"] = dict(plan.skipped)
    return entry


def apply_all(
    ws: Workspace, act: Activation, run_id: str, progress: Progress, counts: dict[str, int]
) -> dict[str, Any]:
    """Apply every destination's plan; one failing destination never stops the others."""
    report = {
        name: _plan_entry(act.plans[name], held=why) if name in act.plans else {"held": why}
        for name, why in act.held.items()
    }
    for name, sink in act.sinks.items():
        plan = act.plans[name]
        entry = report[name] = _plan_entry(plan, creates=plan.creates)
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
            keep_created(ws.data.con, name, res.created, run_id)  # before they are learned
            store_learned(ws, name, res.learned)
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
                _erase(ws, name, sink, act, run_id, counts)
            except Exception as exc:  # noqa: BLE001 - the hooks are the plugin's code
                act.failures.append(_unexpected(name, exc))
            _close(name, sink)
            _keep_copy(ws, name)
            entry["seconds"] = round(time.perf_counter() - started, 3)
    return report


def _keep_copy(ws: Workspace, name: str) -> None:
    """Refresh the workspace's ledger copy of ``name`` with what this apply wrote: the next
    plan then reads only its own run's changes. A copy that cannot be refreshed is only a
    cache (the next plan copies afresh), so its failure never fails the run."""
    try:
        KeptLedger(ws.ledger, ws.path / LEDGER_COPY).keep(name)
    except (duckdb.Error, OSError, SQLAlchemyError) as exc:
        log.warning("ledger copy of %s not refreshed (%s)", name, type(exc).__name__)


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


def _erase(
    ws: Workspace, name: str, sink: Sink, act: Activation, run_id: str, counts: dict[str, int]
) -> None:
    """The sink's erase hook for people a privacy request erases (``connector.privacy``)."""
    if not act.desired.erasing:
        return
    errors = erase_at_destination(ws, name, sink, act.desired, run_id)
    if errors:
        ws.runs.add_errors(run_id, errors)
        counts["retryable"] += sum(1 for e in errors if e.retryable)
        counts["rejected"] += sum(1 for e in errors if not e.retryable)


def store_learned(ws: Workspace, destination: str, learned: list[tuple[str, str, str]]) -> None:
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
