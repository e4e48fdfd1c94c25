"""``connector schedule``: apscheduler 3.11 with its job store in the state database.

Job definitions persist in the ``apscheduler_jobs`` table of the state store (SQLite or
PostgreSQL), so a restart keeps each job's next fire time, and a scheduler that was down catches
up with exactly one run (``coalesce=True``) when the missed fire time is within
``misfire_grace_time``. ``max_instances=1`` keeps a pipeline's runs from overlapping inside the
scheduler; the run lock keeps them from overlapping with ``connector run`` started by cron.

At start the jobs from ``[schedule]`` are reconciled with the stored ones: an unchanged job is
left alone (re-adding it with ``replace_existing`` would recompute its next fire time and lose
the catch-up run), a changed one is replaced, one no longer configured is removed. Run one
scheduler per state database: apscheduler 3 has no distributed job locking.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.base import BaseTrigger

from connector.config.cron import cron_trigger, interval_trigger
from connector.config.models import AppConfig, ScheduleSettings
from connector.errors import ConfigError
from connector.scheduler.jobs import RUN_PIPELINE

__all__ = [
    "JOBSTORE_TABLE",
    "JobDef",
    "PipelineScheduler",
    "build_scheduler",
    "desired_jobs",
    "serve",
    "sync_jobs",
]

log = logging.getLogger(__name__)

JOBSTORE_TABLE = "apscheduler_jobs"
_PREFIX = "pipeline:"


@dataclass(frozen=True, slots=True)
class JobDef:
    id: str
    trigger: BaseTrigger
    func: str
    args: tuple[str | None, ...]
    misfire_grace_time: int
    timezone: str = "UTC"

    @property
    def fingerprint(self) -> str:
        """Stored as the job's name: a changed definition is replaced, an unchanged one kept."""
        # str(), not repr(): an interval trigger's repr holds its start date, new at each boot
        return (
            f"{self.func}{list(self.args)} {self.trigger} tz={self.timezone} "
            f"grace={self.misfire_grace_time}"
        )


def desired_jobs(
    schedule: ScheduleSettings,
    config_path: Path,
    secrets_path: Path | None = None,
    *,
    func: str = RUN_PIPELINE,
) -> list[JobDef]:
    args = (str(config_path.resolve()), str(secrets_path.resolve()) if secrets_path else None)
    grace = int(schedule.misfire_grace_time.total_seconds())
    jobs = [
        JobDef(
            f"{_PREFIX}cron:{i}",
            cron_trigger(expr, schedule.timezone),
            func,
            args,
            grace,
            schedule.timezone,
        )
        for i, expr in enumerate(schedule.cron)
    ]
    if schedule.interval is not None:
        jobs.append(
            JobDef(
                f"{_PREFIX}interval",
                interval_trigger(schedule.interval, schedule.timezone),
                func,
                args,
                grace,
                schedule.timezone,
            )
        )
    return jobs


class PipelineScheduler(BackgroundScheduler):  # type: ignore[misc]
    """A BackgroundScheduler whose shutdown leaves no database connection behind."""

    def __init__(self, store: SQLAlchemyJobStore, timezone: str) -> None:
        super().__init__(
            jobstores={"default": store},
            executors={"default": {"type": "threadpool", "max_workers": 1}},
            job_defaults={"coalesce": True, "max_instances": 1},
            timezone=timezone,
        )
        self.store = store

    def shutdown(self, wait: bool = True) -> None:
        super().shutdown(wait)
        # the scheduler thread wakes for the shutdown and may query the store once more after
        # it was disposed, which opens a fresh pool: close that one too
        self.store.engine.dispose()


def build_scheduler(url: str, *, timezone: str = "UTC") -> PipelineScheduler:
    # SQLite: wait for the runner's writes instead of failing with "database is locked"
    options = {"connect_args": {"timeout": 30}} if url.startswith("sqlite") else {}
    store = SQLAlchemyJobStore(url=url, tablename=JOBSTORE_TABLE, engine_options=options)
    return PipelineScheduler(store, timezone)


def sync_jobs(scheduler: BackgroundScheduler, jobs: list[JobDef]) -> dict[str, list[str]]:
    """Reconcile stored jobs with the configured ones (the scheduler must be started)."""
    done: dict[str, list[str]] = {"kept": [], "added": [], "replaced": [], "removed": []}
    wanted = {j.id: j for j in jobs}
    for job in scheduler.get_jobs():
        if job.id.startswith(_PREFIX) and job.id not in wanted:
            scheduler.remove_job(job.id)
            done["removed"].append(job.id)
    for jd in jobs:
        current = scheduler.get_job(jd.id)
        if current is not None and current.name == jd.fingerprint:
            done["kept"].append(jd.id)
            continue
        scheduler.add_job(
            jd.func,
            jd.trigger,
            args=list(jd.args),
            id=jd.id,
            name=jd.fingerprint,
            misfire_grace_time=jd.misfire_grace_time,
            coalesce=True,
            max_instances=1,
            replace_existing=True,
        )
        done["replaced" if current is not None else "added"].append(jd.id)
    return done


def serve(
    cfg: AppConfig,
    config_path: Path,
    stop: threading.Event,
    *,
    secrets_path: Path | None = None,
    on_ready: Any = None,
) -> None:
    """Run until ``stop`` is set; then let the current run finish its batch and shut down."""
    jobs = desired_jobs(cfg.schedule, config_path, secrets_path)
    if not jobs:
        raise ConfigError(
            "schedule: nothing to schedule: set schedule.cron and/or schedule.interval"
        )
    from connector.workspace import Workspace

    ws = Workspace(cfg)  # creates the workspace and migrates the state store first
    try:
        url = ws.state.url
    finally:
        ws.close()
    scheduler = build_scheduler(url, timezone=cfg.schedule.timezone)
    scheduler.start(paused=True)
    try:
        changes = sync_jobs(scheduler, jobs)
        log.info("schedule: %s", {k: v for k, v in changes.items() if v})
        scheduler.resume()
        if on_ready is not None:
            on_ready(scheduler)
        while not stop.wait(1.0):
            pass
        log.info("schedule: stopping; waiting for the current run to finish its batch")
    finally:
        scheduler.shutdown(wait=True)
