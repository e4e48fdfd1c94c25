"""Micro-batch activation: the batch run's planner, ledger, consent rules and holdouts, applied
to the real-time segments of a few profiles at a time.

Sinks stay open for the whole session (their lists are prepared once, their rate budgets keep
counting across micro-batches), so a platform's limits hold for the stream as they do for a run;
the two never send at once, since both hold the one run lock. A micro-batch plans only the
memberships of the profiles it touched: the ledger rows of those keys are the baseline, so a
removal still only touches memberships this connector added. Changes a platform left retryable
stay pending in the ledger and are planned again by the next sweep.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

import pandas as pd

from connector.errors import ConnectorError
from connector.logs import redact
from connector.modelling.realtime_rules import segment_defs
from connector.pipeline.activate import destination_policy, store_learned
from connector.plugin.changes import SegmentRef
from connector.plugin.defaults import accepts_hook, known_hook, with_hook_defaults
from connector.plugin.spec import Capability, Sink
from connector.state.ledger import LedgerEntry, membership_key
from connector.store.echoes import keep_created
from connector.sync.apply import apply_plan
from connector.sync.desired import DesiredState, build_desired
from connector.sync.plan import plan_destination
from connector.workspace import Workspace

__all__ = ["Delivered", "Deliverer"]

log = logging.getLogger(__name__)
_MEMBERSHIPS = frozenset({Capability.SINK_LISTS, Capability.SINK_AUDIENCES})


@dataclass(slots=True)
class Delivered:
    """Membership changes planned, acknowledged (``applied``), refused or left to retry."""

    adds: int = 0
    removes: int = 0
    applied: int = 0
    rejected: int = 0
    retryable: int = 0
    skipped: int = 0
    failures: list[str] = field(default_factory=list)


@dataclass(slots=True)
class _Destination:
    name: str
    sink: Sink
    segments: list[SegmentRef]
    by_address: bool = False  # a hashed audience (``plan_destination``'s members_by_address)
    prepared: bool = False


class Deliverer:
    """The destinations that take real-time segments, opened once per session."""

    def __init__(self, ws: Workspace, run_id: str) -> None:
        self.ws = ws
        self.run_id = run_id
        refs = [SegmentRef(d.id, d.name, d.description) for d in segment_defs(ws.config.model.core)]
        self.segments = refs
        self.destinations: list[_Destination] = []
        self.failures: list[str] = []
        for name, cfg in ws.config.destinations.items():
            wanted = [s for s in refs if cfg.segments == "all" or s.id in cfg.segments]
            if not cfg.enabled or not wanted:
                continue
            spec = ws.registry.get(cfg.plugin)
            if spec.sink is None or not _MEMBERSHIPS & spec.capabilities:
                continue
            try:
                sink = with_hook_defaults(
                    spec.sink(cfg.settings, ws.plugin_context("destinations", name, run_id))
                )
            except ConnectorError as exc:
                self.failures.append(f"destination {name}: {redact(str(exc))}")
                continue
            by_address = Capability.SINK_AUDIENCES in spec.capabilities
            self.destinations.append(_Destination(name, sink, wanted, by_address))

    def deliver(
        self,
        members: pd.DataFrame,
        profile_ids: Sequence[str] | None,
        held: frozenset[str] = frozenset(),
    ) -> Delivered:
        """Plan and apply the memberships of ``profile_ids`` (None: everyone, a sweep)."""
        out = Delivered()
        if not self.destinations or (profile_ids is not None and not profile_ids):
            return out
        desired = build_desired(self.ws.data, pd.DataFrame({"profile_id": []}), members, [],
                                self.segments, profile_ids)  # fmt: skip
        for dest in self.destinations:
            try:
                self._one(dest, desired, profile_ids, held, out)
            except ConnectorError as exc:
                out.failures.append(f"destination {dest.name}: {redact(str(exc))[:300]}")
            except Exception as exc:
                log.error("stream: destination %s failed", dest.name, exc_info=exc)
                out.failures.append(f"destination {dest.name}: {type(exc).__name__}")
        return out

    def _ledger(
        self, dest: _Destination, profile_ids: Sequence[str] | None, live: set[str]
    ) -> dict[str, LedgerEntry]:
        if profile_ids is None:
            entries = self.ws.ledger.entries(dest.name)
            return {k: e for k, e in entries.items() if e.segment_id in live}
        keys = [membership_key(s, p) for s in sorted(live) for p in profile_ids]
        return self.ws.ledger.entries_for(dest.name, keys)

    def _one(
        self,
        dest: _Destination,
        desired: DesiredState,
        profile_ids: Sequence[str] | None,
        held: frozenset[str],
        out: Delivered,
    ) -> None:
        cfg = self.ws.config.destinations[dest.name]
        live = {s.id for s in dest.segments} - held
        sink = dest.sink
        plan = plan_destination(
            dest.name,
            desired,
            self._ledger(dest, profile_ids, live),
            traits=(),
            segments=tuple(sorted(live)),
            consent_channel=sink.consent,
            consent_policy=destination_policy(cfg.consent_policy, sink),
            accepts=accepts_hook(sink),
            known=known_hook(sink),
            update_only=cfg.mode == "update_only",
            with_traits=False,
            with_memberships=True,
            members_by_address=dest.by_address,
        )
        out.skipped += sum(plan.skipped.values())
        if not plan.total:
            return
        if not dest.prepared:
            sink.prepare([], dest.segments)
            dest.prepared = True
        res = apply_plan(plan, sink, self.ws.ledger, run_id=self.run_id, retry_rounds=0)
        out.adds += len(plan.adds)
        out.removes += len(plan.removes)
        out.applied += res.applied
        out.rejected += res.rejected
        out.retryable += res.retryable
        self.ws.runs.add_errors(self.run_id, res.errors)
        keep_created(self.ws.data.con, dest.name, res.created, self.run_id)
        store_learned(self.ws, dest.name, res.learned)
        if res.failed:
            out.failures.append(f"destination {dest.name}: {res.failed}")

    def close(self) -> None:
        for dest in self.destinations:
            try:
                dest.sink.close()
            except Exception as exc:  # noqa: BLE001 - closing one sink must not skip the others
                log.warning("stream: closing %s failed: %s", dest.name, redact(repr(exc))[:300])
