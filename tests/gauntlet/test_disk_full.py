"""A full disk ends the run with one clear line, and the next run loses nothing.

Issue 20: a full disk read "cannot rollback - no transaction is active" (SQLite's own "database
or disk is full" masked by the rollback that followed) or a raw DuckDB traceback.
"""

from __future__ import annotations

import json
import os
import resource
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import event, text
from tests.conftest import REPO, write_config

from connector.state import RecordError, RunStore, StateStore
from connector.store.diskfull import is_disk_full


def _people(start: int, stop: int) -> str:
    return "".join(
        json.dumps(
            {
                "source_id": f"c{i}",
                "email": f"person{i}@example.org",
                "updated_at": "2011-11-01T00:00:00Z",
                "traits": {"note": "x" * 200},
            }
        )
        + "\n"
        for i in range(start, stop)
    )


def _run(cfg: Path, limit: int | None = None) -> subprocess.CompletedProcess[str]:
    def cap_file_size() -> None:  # what a full disk looks like to the writer: EFBIG
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        assert limit is not None
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    env = {k: v for k, v in os.environ.items() if not k.startswith("CONNECTOR_")}
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), str(REPO / "plugins")])
    return subprocess.run(
        [sys.executable, "-m", "connector", "run", "--config", str(cfg)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        cwd=cfg.parent,
        env=env,
        preexec_fn=cap_file_size if limit else None,
    )


def test_a_full_disk_is_one_clear_error_and_nothing_is_lost(tmp_path: Path) -> None:
    cfg = write_config(tmp_path)
    profiles = tmp_path / "data" / "profiles"
    (profiles / "a.jsonl").write_text(_people(0, 100))
    assert _run(cfg).returncode == 0
    workspace = tmp_path / ".connector"
    biggest = max(f.stat().st_size for f in workspace.iterdir() if f.is_file())
    (profiles / "b.jsonl").write_text(_people(100, 5_000))

    full = _run(cfg, limit=biggest + 64 * 1024)
    assert full.returncode == 1, full.stderr
    message = " ".join(full.stderr.split())
    assert "disk full at " in message, message
    assert "free space and re-run; nothing was lost" in message, message
    assert "Traceback" not in full.stderr
    assert "cannot rollback" not in message

    again = _run(cfg)
    assert again.returncode == 0, again.stderr
    emails = (tmp_path / "out" / "traits.csv").read_text().count("\n") - 1
    assert emails == 5_000


def test_sqlite_disk_full_is_recognised_through_the_rollback(tmp_path: Path) -> None:
    """SQLite's own SQLITE_FULL (a page limit stands in for the disk), raised through the
    state store's SQLAlchemy engine, is recognised whatever wraps it."""
    store = StateStore(f"sqlite:///{tmp_path / 'state.db'}")
    event.listen(
        store.engine, "connect", lambda con, _rec: con.execute("PRAGMA max_page_count = 60")
    )
    store.engine.dispose()
    runs = RunStore(store)
    with store.engine.connect() as conn:
        conn.execute(text("SELECT 1"))
    with pytest.raises(Exception) as caught:  # noqa: PT011 - the point is what it is
        runs.add_errors("r1", [RecordError("pull", "shop", "x" * 2000)] * 2000)
    store.close()
    assert is_disk_full(caught.value)
    assert not is_disk_full(ValueError("cannot rollback - no transaction is active"))
