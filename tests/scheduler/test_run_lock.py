"""The run lock, with real processes: one run at a time, and a killed holder leaves no lock."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest
from sqlalchemy import create_engine, select
from tests.scheduler.pipeline_helpers import make_pipeline, start_cli, wait_for

from connector.errors import RunLockedError
from connector.runctl.lock import RunLock
from connector.state.schema import runs


def _statuses(state_url: str) -> list[str]:
    engine = create_engine(state_url)
    try:
        with engine.connect() as conn:
            return sorted(r[0] for r in conn.execute(select(runs.c.status)))
    finally:
        engine.dispose()


def _url(root: Path, state_url: str) -> str:
    return (
        state_url
        if not state_url.startswith("sqlite")
        else f"sqlite:///{root / '.connector' / 'state.db'}"
    )


def test_two_runs_started_together_one_runs_the_other_exits_4(
    tmp_path: Path, state_url: str
) -> None:
    cfg = make_pipeline(tmp_path, state_url=state_url)
    gate = tmp_path / "gate"
    gate.write_text("")
    pause = {"CONNECTOR_PAUSE_AT": "run.locked", "CONNECTOR_PAUSE_FILE": str(gate)}
    procs = [start_cli(["run", "--config", str(cfg)], tmp_path, **pause) for _ in range(2)]
    try:
        # the loser exits by itself while the winner still holds the lock (paused inside it)
        wait_for(lambda: any(p.poll() is not None for p in procs), what="one run to exit")
        loser = next(p for p in procs if p.poll() is not None)
        winner = next(p for p in procs if p is not loser)
        assert winner.poll() is None
        _out, errtext = loser.communicate()
        assert loser.returncode == 4, errtext[-1500:]
        assert "another run holds the lock" in errtext
        wait_for((tmp_path / "gate.reached").exists, what="the winner to hold the lock")
    finally:
        gate.unlink(missing_ok=True)
    _out, errtext = winner.communicate(timeout=120)
    assert winner.returncode == 0, errtext
    assert _statuses(_url(tmp_path, state_url)) == ["completed"]


def test_after_kill_9_the_next_run_takes_the_lock(tmp_path: Path, state_url: str) -> None:
    cfg = make_pipeline(tmp_path, state_url=state_url)
    gate = tmp_path / "gate"
    gate.write_text("")
    holder = start_cli(
        ["run", "--config", str(cfg)],
        tmp_path,
        CONNECTOR_PAUSE_AT="run.locked",
        CONNECTOR_PAUSE_FILE=str(gate),
    )
    wait_for((tmp_path / "gate.reached").exists, what="the first run to hold the lock")
    # a rival is refused while the holder lives
    rival = start_cli(["run", "--config", str(cfg)], tmp_path)
    _out, errtext = rival.communicate(timeout=120)
    assert rival.returncode == 4
    assert "another run holds the lock" in errtext
    assert f"pid {holder.pid}" in errtext
    os.kill(holder.pid, signal.SIGKILL)
    holder.communicate(timeout=30)
    nxt = start_cli(["run", "--config", str(cfg)], tmp_path)
    _out, errtext = nxt.communicate(timeout=180)
    assert nxt.returncode == 0, errtext
    # the killed run's row is marked abandoned by the run that took the lock after it
    assert _statuses(_url(tmp_path, state_url)) == ["abandoned", "completed"]


def test_lock_in_process_is_exclusive_and_reusable(tmp_path: Path, state_url: str) -> None:
    url = None if state_url.startswith("sqlite") else state_url
    first = RunLock(tmp_path, url)
    first.acquire()
    with pytest.raises(RunLockedError, match="another run holds the lock"):
        RunLock(tmp_path, url).acquire()
    first.release()
    again = RunLock(tmp_path, url)
    again.acquire()
    again.release()


def test_advisory_lock_alone_excludes_another_workspace(tmp_path: Path, postgres_url: str) -> None:
    """Two machines (two workspaces) sharing one PostgreSQL state database never overlap."""
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    first = RunLock(a, postgres_url)
    first.acquire()
    try:
        with pytest.raises(RunLockedError, match="PostgreSQL state database"):
            RunLock(b, postgres_url).acquire()
        # the failed attempt released its file lock: the workspace is not left locked
        probe = RunLock(b)
        probe.acquire()
        probe.release()
    finally:
        first.release()
    second = RunLock(b, postgres_url)
    second.acquire()
    second.release()
