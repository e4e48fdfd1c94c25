"""Per-minute stream counts: minutes close on the clock, percentiles are nearest-rank, the health
answer turns 503 when the loop stalls, and `connector runs show` prints a session's minutes."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from pathlib import Path

from tests.conftest import write_config
from typer.testing import CliRunner

from connector.cli.app import app
from connector.config import load_config
from connector.pipeline import Workspace
from connector.realtime.metrics import StreamMetrics, percentile


def test_minutes_close_on_the_clock_with_percentiles() -> None:
    metrics = StreamMetrics()
    metrics.add("events", 100)
    metrics.add("membership_changes", 7)
    metrics.latencies([float(n) for n in range(1, 101)])
    assert not metrics.roll(datetime.now(UTC).replace(second=59))
    assert metrics.roll(datetime(2999, 1, 1, tzinfo=UTC))
    (minute,) = metrics.minutes
    assert minute["events"] == 100
    assert minute["membership_changes"] == 7
    assert (minute["latency_p50"], minute["latency_p95"], minute["latency_p99"]) == (50, 95, 99)
    assert metrics.totals["events"] == 100
    assert percentile([], 0.5) is None


def test_health_turns_503_when_the_loop_stalls() -> None:
    metrics = StreamMetrics()
    metrics.beat("running")
    assert metrics.health(stalled_after=60)[0]
    time.sleep(0.05)
    ok, body = metrics.health(stalled_after=0.01)
    assert not ok
    assert body["status"] == "stalled"


def test_runs_show_prints_a_stream_sessions_minutes(tmp_path: Path) -> None:
    cfg = write_config(tmp_path)
    ws = Workspace(load_config(cfg))
    minute = {"minute": "2026-12-01T10:00", "events": 12000, "membership_changes": 2300,
              "latency_p50": 1.8, "latency_p95": 2.9, "latency_p99": 4.5}  # fmt: skip
    try:
        ws.runs.start("s-test", dry_run=False)
        ws.runs.update("s-test", status="stopped", stages={"stream": {"minutes": [minute]}},
                       counts={"events": 12000}, ended=True)  # fmt: skip
    finally:
        ws.close()
    shown = CliRunner().invoke(app, ["runs", "show", "s-test", "--config", str(cfg)])
    assert shown.exit_code == 0, shown.output
    assert "per minute" in shown.output
    assert "2300" in shown.output
    as_json = CliRunner().invoke(
        app, ["runs", "show", "s-test", "-o", "json", "--config", str(cfg)]
    )
    assert json.loads(as_json.output)["stream"]["minutes"] == [minute]
