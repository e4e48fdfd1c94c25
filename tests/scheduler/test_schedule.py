"""The scheduler: cron's weekday meaning, persistent jobs, coalesced catch-up, graceful stop."""

from __future__ import annotations

import signal
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from apscheduler.events import EVENT_JOB_EXECUTED, EVENT_JOB_SUBMITTED, JobExecutionEvent
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from sqlalchemy import create_engine, func, select
from tests.scheduler.pipeline_helpers import make_pipeline, start_cli, wait_for

from connector.config import load_config
from connector.config.cron import cron_trigger
from connector.config.models import ScheduleSettings
from connector.errors import ConfigError
from connector.scheduler.service import JOBSTORE_TABLE, build_scheduler, desired_jobs, sync_jobs
from connector.state.schema import ledger, runs

SATURDAY = datetime(2025, 1, 4, tzinfo=UTC)


@pytest.mark.parametrize(
    ("expr", "first_fire"),
    [
        ("0 9 * * 0", "Sun 05 09:00"),  # apscheduler's from_crontab would say Monday
        ("0 9 * * 7", "Sun 05 09:00"),
        ("0 9 * * 1-5", "Mon 06 09:00"),  # from_crontab: Tue-Sat, so Saturday 09:00
        ("0 9 * * mon-fri", "Mon 06 09:00"),
        ("0 9 * * sun", "Sun 05 09:00"),
        ("30 8 * * 6", "Sat 04 08:30"),
        ("@weekly", "Sun 05 00:00"),
    ],
)
def test_crontab_weekdays_mean_what_cron_means(expr: str, first_fire: str) -> None:
    fire = cron_trigger(expr).get_next_fire_time(None, SATURDAY)
    assert fire is not None
    assert fire.strftime("%a %d %H:%M") == first_fire


@pytest.mark.parametrize("bad", ["0 9 * * mon,2", "0 9 * * 8", "0 9 * *", "61 * * * *"])
def test_bad_crontabs_are_refused_at_config_load(tmp_path: Path, bad: str) -> None:
    cfg = make_pipeline(tmp_path, people=1, extra=f'[schedule]\ncron = "{bad}"\n')
    with pytest.raises(ConfigError, match=r"schedule\.cron"):
        load_config(cfg, env={})


def _rewind(url: str, job_id: str, to: datetime) -> None:
    """The scheduler was down: its stored next fire time is now in the past.

    Edits the job store directly (a started scheduler could fire the job while shutting down).
    """
    store = SQLAlchemyJobStore(url=url, tablename=JOBSTORE_TABLE)
    store.start(build_scheduler(url), "default")
    try:
        job = store.lookup_job(job_id)
        assert job is not None
        job.next_run_time = to
        store.update_job(job)
    finally:
        store.shutdown()


def test_five_missed_minutes_make_exactly_one_catch_up_run(tmp_path: Path, state_url: str) -> None:
    schedule = ScheduleSettings(cron=("* * * * *",))
    jobs = desired_jobs(
        schedule, tmp_path / "connector.toml", func="tests.scheduler.sched_jobs:record"
    )
    first = build_scheduler(state_url)
    first.start(paused=True)
    assert sync_jobs(first, jobs)["added"] == ["pipeline:cron:0"]
    first.shutdown()

    now = datetime.now(UTC)
    down_since = now.replace(second=0, microsecond=0) - timedelta(minutes=5)
    _rewind(state_url, "pipeline:cron:0", down_since)
    missed = 0
    t = down_since
    while t is not None and t <= now:
        missed += 1
        t = cron_trigger("* * * * *").get_next_fire_time(t, now)
    assert missed >= 5

    second = build_scheduler(state_url)
    submitted: list[list[datetime]] = []
    executed = threading.Event()

    def on_submit(event: JobExecutionEvent) -> None:
        submitted.append(list(event.scheduled_run_times))
        # hold further processing, so the next minute's legitimate run cannot race the asserts
        second.pause()

    second.add_listener(on_submit, EVENT_JOB_SUBMITTED)
    second.add_listener(lambda _e: executed.set(), EVENT_JOB_EXECUTED)
    second.start(paused=True)
    # the definition survived the restart, and an unchanged job is not re-added (which would
    # recompute its next fire time and lose the catch-up)
    assert sync_jobs(second, jobs)["kept"] == ["pipeline:cron:0"]
    job = second.get_job("pipeline:cron:0")
    assert job is not None
    assert job.func_ref == "tests.scheduler.sched_jobs:record"
    assert str(job.trigger) == str(cron_trigger("* * * * *"))
    assert job.next_run_time == down_since
    second.resume()
    assert executed.wait(30)
    second.shutdown(wait=True)

    assert len(submitted) == 1
    assert len(submitted[0]) == 1  # coalesced: one run for the five-plus missed fire times
    assert submitted[0][0] > now - timedelta(minutes=1)
    assert len((tmp_path / "runs.log").read_text().splitlines()) == 1
    third = build_scheduler(state_url)
    third.start(paused=True)
    try:
        job = third.get_job("pipeline:cron:0")
        assert job is not None
        assert job.next_run_time > now  # the schedule goes on from the present
    finally:
        third.shutdown()


def _run_rows(url: str) -> list[tuple[str, str]]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return [(r[0], r[1]) for r in conn.execute(select(runs.c.run_id, runs.c.status))]
    finally:
        engine.dispose()


def _jobs_stored(url: str) -> int:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return int(conn.exec_driver_sql("SELECT count(*) FROM apscheduler_jobs").scalar_one())
    except Exception:  # noqa: BLE001 - the table appears when the scheduler starts
        return 0
    finally:
        engine.dispose()


def test_connector_schedule_survives_restart_and_catches_up_once(
    tmp_path: Path, state_url: str
) -> None:
    url = state_url if not state_url.startswith("sqlite") else None
    cfg = make_pipeline(tmp_path, state_url=url, extra='[schedule]\ninterval = "1m"\n')
    store = url or f"sqlite:///{tmp_path / '.connector' / 'state.db'}"

    proc = start_cli(["schedule", "--config", str(cfg)], tmp_path)
    wait_for(lambda: _jobs_stored(store) == 1, what="the job to be stored")
    proc.send_signal(signal.SIGTERM)
    out, errtext = proc.communicate(timeout=60)
    assert proc.returncode == 0, errtext
    assert "scheduled pipeline:interval" in out
    assert _run_rows(store) == []

    # down for five minutes: the stored next fire time is five minutes (and a second) ago, so
    # the five missed fire times coalesce into one run and the next is a minute after it
    _rewind(store, "pipeline:interval", datetime.now(UTC) - timedelta(minutes=5, seconds=1))
    proc = start_cli(["schedule", "--config", str(cfg)], tmp_path)
    try:
        wait_for(
            lambda: any(s not in ("running",) for _, s in _run_rows(store)),
            timeout=45,  # the catch-up starts at once; the next interval run is ~59 s away
            what="the catch-up run to finish",
        )
    finally:
        proc.send_signal(signal.SIGTERM)
        out, errtext = proc.communicate(timeout=120)
    assert proc.returncode == 0, errtext
    assert "'kept': ['pipeline:interval']" in errtext  # the stored definition was reused
    assert [s for _, s in _run_rows(store)] == ["completed"]
    assert _jobs_stored(store) == 1


def test_sigterm_finishes_the_batch_commits_and_the_next_run_resumes(tmp_path: Path) -> None:
    cfg = make_pipeline(tmp_path, people=60)
    cfg.write_text(cfg.read_text().replace("batch_size = 1000", "batch_size = 10"))
    gate = tmp_path / "gate"
    gate.write_text("")
    proc = start_cli(
        ["run", "--config", str(cfg)],
        tmp_path,
        CONNECTOR_PAUSE_AT="apply.after_ledger",
        CONNECTOR_PAUSE_FILE=str(gate),
    )
    wait_for((tmp_path / "gate.reached").exists, timeout=120, what="the first batch")
    proc.send_signal(signal.SIGTERM)
    gate.unlink()
    _out, errtext = proc.communicate(timeout=120)
    assert proc.returncode == 3, errtext
    url = f"sqlite:///{tmp_path / '.connector' / 'state.db'}"
    assert [s for _, s in _run_rows(url)] == ["interrupted"]
    engine = create_engine(url)
    with engine.connect() as conn:
        delivered = conn.execute(select(func.count()).select_from(ledger)).scalar_one()
    engine.dispose()
    assert delivered == 10  # the batch in flight finished and was committed; nothing more sent

    nxt = start_cli(["run", "--config", str(cfg)], tmp_path)
    _out, errtext = nxt.communicate(timeout=180)
    assert nxt.returncode == 0, errtext
    engine = create_engine(url)
    with engine.connect() as conn:
        delivered_after = conn.execute(select(func.count()).select_from(ledger)).scalar_one()
    engine.dispose()
    assert delivered_after > delivered
    assert sorted(s for _, s in _run_rows(url)) == ["completed", "interrupted"]
