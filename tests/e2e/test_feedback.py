"""Feedback on long work: every stage of a run is announced in words with real totals (a
count with its unit where no total is known, never "0/?"), and a scheduled run logs one line
with its counts."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import pytest
from rich.console import Console
from tests.conftest import write_config

from connector.cli.progress import RichProgress, describe_stage
from connector.config import load_config
from connector.demo.dataset import write_demo_inputs
from connector.pipeline import Workspace, run_pipeline
from connector.scheduler.jobs import run_scheduled


def _console() -> Console:
    return Console(file=io.StringIO(), force_terminal=True, width=140, record=True)


def test_a_stage_without_a_total_shows_a_count_not_a_question_mark() -> None:
    console = _console()
    progress = RichProgress(console, transient=False)
    with progress.stage("pull shop") as advance:
        advance(1000)
        advance(204)
    with progress.stage("apply export", total=10) as advance:
        advance(10)
    with progress.stage("model"):
        pass
    shown = console.export_text()
    assert "reading shop" in shown
    assert "1,204 records" in shown
    assert "sending changes to export" in shown
    assert "10/10" in shown
    assert "scoring and segmenting profiles" in shown
    assert "?" not in shown


class Recording:
    """A Progress that keeps what the runner told it (the CLI draws the same calls)."""

    def __init__(self) -> None:
        self.stages: list[tuple[str, int | None]] = []
        self.advanced: dict[str, int] = {}

    @contextmanager
    def stage(self, name: str, total: int | None = None) -> Iterator[object]:
        self.stages.append((name, total))
        self.advanced[name] = 0

        def advance(n: int) -> None:
            self.advanced[name] += n

        yield advance

    def info(self, message: str) -> None:
        return None


def test_every_stage_of_a_run_is_announced_with_real_totals(tmp_path: Path) -> None:
    cfg = write_config(tmp_path)
    write_demo_inputs(tmp_path / "data", shift=timedelta(0))
    recording = Recording()
    ws = Workspace(load_config(cfg, env={}))
    try:
        summary = run_pipeline(ws, progress=recording)  # type: ignore[arg-type]
    finally:
        ws.close()
    names = [name for name, _ in recording.stages]
    assert names == ["pull shop", "unify", "model", "plan", "apply export"]
    assert all(describe_stage(n)[0] != n for n in names), "each stage says what it does"
    assert recording.advanced["pull shop"] == summary.counts["pulled"]
    totals = dict(recording.stages)
    assert totals["apply export"] == summary.counts["planned"]
    assert recording.advanced["apply export"] == summary.counts["planned"]


def test_a_scheduled_run_logs_one_line_with_its_counts(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    cfg = write_config(tmp_path)
    write_demo_inputs(tmp_path / "data", shift=timedelta(0))
    caplog.set_level(logging.INFO, logger="connector.scheduler.jobs")
    status = run_scheduled(str(cfg))
    lines = [r.getMessage() for r in caplog.records if r.name == "connector.scheduler.jobs"]
    assert len(lines) == 1
    line = lines[0]
    assert line.startswith("scheduled run r")
    assert f": {status} in " in line
    for part in ("pulled ", "quarantined)", " profiles, planned ", "applied ", "rejected 0"):
        assert part in line
    assert "pulled 0 " not in line
