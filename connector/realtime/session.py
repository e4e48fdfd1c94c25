"""One stream session: hold the run lock, tail, ingest, evaluate, deliver, commit, repeat.

Order per micro-batch, so that a crash anywhere loses and repeats nothing: events are stored
(idempotent by source event id) as they are read; at most every ``stream.flush_seconds`` the
touched profiles are evaluated and their membership changes applied (ledger after each
acknowledged batch, pending marks before); only then is each feed's mark committed. A restart
re-reads from the committed marks: the events are stored again as the same rows, evaluation
gives the same memberships, and the planner finds the ledger already holds them.

Every ``stream.sweep`` (and at start and after handing the lock to a scheduled run) everyone is
evaluated and planned against the whole ledger of real-time segments: memberships that change
with time alone (an event leaving a window) and changes a platform left retryable go out then.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from connector.modelling.realtime_rules import evaluate_realtime
from connector.modelling.sufficiency import held_by_last_run
from connector.pipeline.quarantine import Quarantine
from connector.pipeline.stores import bind_stores
from connector.privacy.erase import suppression_check
from connector.realtime.deliver import Delivered, Deliverer
from connector.realtime.feeds import Feed, open_feeds
from connector.realtime.health import HealthServer
from connector.realtime.ingest import ingest
from connector.realtime.metrics import StreamMetrics
from connector.runctl.crashpoints import crashpoint
from connector.runctl.lock import RunLock
from connector.runctl.stop import install_sigterm_handler, stop_requested
from connector.state.quarantine import QuarantineStore
from connector.workspace import Workspace

__all__ = ["StreamOptions", "StreamSummary", "run_stream"]

log = logging.getLogger(__name__)
_BACKFILL_SECONDS = 3600.0  # older events are backfills: their age is no latency of ours


@dataclass(frozen=True, slots=True)
class StreamOptions:
    health_host: str = "127.0.0.1"
    health_port: int | None = None
    ready: Callable[[str, str | None], None] | None = None
    """Told the session's run id and the health URL once the stream holds the lock."""


@dataclass(slots=True)
class StreamSummary:
    run_id: str
    status: str
    totals: dict[str, int] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)


def _now() -> datetime:
    return datetime.now(UTC)


HELD_TTL = 60.0  # seconds between re-reads of what the last run held


class _Session:
    def __init__(self, ws: Workspace, lock: RunLock, metrics: StreamMetrics) -> None:
        self.ws = ws
        self.lock = lock
        self.metrics = metrics
        self.cfg = ws.config.stream
        self.run_id = _now().strftime("s%Y%m%dT%H%M%S") + "-" + secrets.token_hex(3)
        ws.runs.mark_abandoned("streaming")
        ws.runs.start(self.run_id, dry_run=False)
        ws.runs.update(self.run_id, status="streaming")
        bind_stores(ws)
        self.feeds: list[Feed] = open_feeds(ws, self.run_id)
        self.deliverer = Deliverer(ws, self.run_id)
        self.failures: list[str] = list(self.deliverer.failures)
        if not self.deliverer.segments:
            self.failures.append(
                "no rule segment has realtime = true: the stream only stores events"
            )
            log.warning("stream: %s", self.failures[-1])
        self.quarantines = {
            f.source: Quarantine(ws.runs, QuarantineStore(ws.state), source=f.source,
                                 run_id=self.run_id, sample=ws.config.pull.quarantine_sample,
                                 dry_run=False)
            for f in self.feeds
        }  # fmt: skip
        self.suppressed = suppression_check(ws)
        self.touched: set[str] = set()
        self.occurred: list[datetime] = []
        self.last_flush = time.monotonic()
        self.last_sweep = 0.0
        self._held: tuple[float, frozenset[str]] = (-HELD_TTL, frozenset())

    def run(self) -> None:
        self.metrics.beat("running")
        self.sweep()
        while not stop_requested():
            if self.lock.wanted():
                self.hand_over()
                continue
            got = self.poll()
            now = time.monotonic()
            if now - self.last_flush >= self.cfg.flush_seconds:
                self.flush()
            if now - self.last_sweep >= self.cfg.sweep.total_seconds():
                self.sweep()
            if self.metrics.roll():
                self.record()
            self.metrics.beat("running")
            if not got:
                time.sleep(self.cfg.poll_seconds)
        self.flush()

    def poll(self) -> int:
        """Read and store what every feed has; the profiles touched wait for the flush."""
        got = 0
        for feed in self.feeds:
            records = list(feed.poll())
            if not records:
                continue
            got += len(records)
            res = ingest(self.ws, feed.source, feed.stream.name, records, self.run_id,
                         self.quarantines[feed.source], self.suppressed)  # fmt: skip
            self.touched |= res.touched
            self.occurred.extend(res.occurred)
            for key in ("events", "quarantined", "warnings", "unresolved", "suppressed"):
                self.metrics.add(key, getattr(res, key))
        self.metrics.backlog = len(self.touched)
        return got

    def flush(self) -> None:
        """Evaluate and deliver the touched profiles, then commit every feed's mark."""
        self.last_flush = time.monotonic()
        dirty = any(f.read_to != f.committed for f in self.feeds)
        if not self.touched and not dirty:
            return
        touched = sorted(self.touched)
        if touched:
            self._deliver(touched)
        crashpoint("stream.before_commit")
        for feed in self.feeds:
            feed.commit()
        now = _now()
        ages = [(now - at).total_seconds() for at in self.occurred]
        self.metrics.latencies([max(0.0, a) for a in ages if a <= _BACKFILL_SECONDS])
        self.touched.clear()
        self.occurred.clear()
        self.metrics.backlog = 0

    def held(self) -> frozenset[str]:
        """Segments the last scheduled run held with its forecasts (data insufficient): a
        window rule that reads one is not delivered from a stale score (re-read each minute)."""
        at, held = self._held
        if time.monotonic() - at >= HELD_TTL:
            last = held_by_last_run(self.ws.runs.recent_stages())
            held = frozenset(last.get("held_segments", ()))
            self._held = (time.monotonic(), held)
        return held

    def sweep(self) -> None:
        self.last_sweep = time.monotonic()
        self._deliver(None)
        self.metrics.add("sweeps", 1)

    def _deliver(self, profile_ids: list[str] | None) -> Delivered:
        settings = self.ws.config.model.core
        now = _now().replace(tzinfo=None)
        members, failed = evaluate_realtime(self.ws.data.con, settings, now, profile_ids)
        res = self.deliverer.deliver(members, profile_ids, frozenset(failed) | self.held())
        self.metrics.add("membership_changes", res.applied)
        self.metrics.add("rejected", res.rejected)
        self.metrics.add("retryable", res.retryable)
        for why in [*failed.values(), *res.failures]:
            if why not in self.failures:
                log.warning("stream: %s", why)
                self.failures.append(why)
        return res

    def hand_over(self) -> None:
        """A scheduled run waits for the lock: deliver, commit, close the stores, let go, and
        take the lock back once the run has it and is done."""
        self.metrics.beat("handing_over")
        self.flush()
        self.record()
        self.ws.data.close()
        self.ws.__dict__.pop("data", None)
        self.lock.release()
        log.info("stream: handed the run lock to a scheduled run")
        while not stop_requested():
            self.metrics.beat("handing_over")
            if not self.lock.wanted() and self.lock.try_acquire():
                break
            time.sleep(0.5)
        else:
            raise _Stopped
        log.info("stream: run lock taken back")
        self.metrics.beat("running")
        self.sweep()

    def record(self, *, status: str | None = None, ended: bool = False) -> None:
        stages: dict[str, Any] = {
            "stream": {
                "minutes": self.metrics.minutes,
                "feeds": {f.key: f.committed for f in self.feeds},
            }
        }
        self.ws.runs.update(
            self.run_id,
            status=status,
            stages=stages,
            counts=self.metrics.totals,
            message="; ".join(self.failures)[:2000] or None,
            ended=ended,
        )

    def close(self) -> None:
        self.deliverer.close()
        for feed in {id(f.live): f for f in self.feeds}.values():
            feed.live.close()


class _Stopped(Exception):
    """Stopped while waiting for the lock: nothing is held, nothing is left to flush."""


def _take_lock(lock: RunLock, metrics: StreamMetrics) -> bool:
    """Wait for a running scheduled run to finish; False when stopped meanwhile."""
    while not lock.try_acquire():
        if stop_requested():
            return False
        metrics.beat("waiting_for_run")
        time.sleep(1.0)
    return True


def run_stream(ws: Workspace, options: StreamOptions | None = None) -> StreamSummary:
    """Run until SIGTERM (or ``request_stop``); the session's run record says what it did."""
    options = options or StreamOptions()
    install_sigterm_handler()
    metrics = StreamMetrics()
    health = None
    if options.health_port is not None:
        health = HealthServer(metrics, options.health_host, options.health_port)
        health.start()
    lock = RunLock(ws.path, ws.config.workspace.state_url, role="stream")
    try:
        if not _take_lock(lock, metrics):
            return StreamSummary("", "stopped")
        return _run_locked(ws, lock, metrics, options, health)
    finally:
        if health is not None:
            health.stop()


def _run_locked(
    ws: Workspace,
    lock: RunLock,
    metrics: StreamMetrics,
    options: StreamOptions,
    health: HealthServer | None,
) -> StreamSummary:
    held = True
    session: _Session | None = None
    try:
        session = _Session(ws, lock, metrics)
        if options.ready is not None:
            options.ready(session.run_id, health.url if health else None)
        try:
            session.run()
        except _Stopped:
            held = False
        metrics.roll()
        metrics.state = "stopped"
        if held:
            session.record(status="stopped", ended=True)
        return StreamSummary(session.run_id, "stopped", dict(metrics.totals), session.failures)
    except BaseException as exc:
        if held and session is not None:
            session.record(status="failed", ended=True)
        log.error("stream: stopped by %s", type(exc).__name__)
        raise
    finally:
        if session is not None:
            session.close()
        if held:
            lock.release()
