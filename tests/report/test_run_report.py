"""The run report: written by every run, self-contained, PII-free, and drawn by a real browser."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest
from sqlalchemy import insert
from tests.scheduler.pipeline_helpers import make_pipeline
from typer.testing import CliRunner

from connector.cli.app import app
from connector.config import load_config
from connector.pipeline import Workspace, run_pipeline
from connector.pipeline.runner import RunSummary
from connector.report import write_report
from connector.state.schema import model_cards

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def _run(cfg: Path) -> RunSummary:
    ws = Workspace(load_config(cfg, env={}))
    try:
        return run_pipeline(ws)
    finally:
        ws.close()


@pytest.fixture
def two_runs(tmp_path: Path) -> tuple[Path, RunSummary, RunSummary]:
    cfg = make_pipeline(tmp_path, people=120)
    first = _run(cfg)
    # a model card, as the modelling stage writes them, to show metrics and calibration
    ws = Workspace(load_config(cfg, env={}))
    try:
        card = {
            "auc": 0.81,
            "lift_top_decile": 2.7,
            "calibration": [{"predicted": p / 10, "observed": p / 10 * 0.9} for p in range(1, 10)],
        }
        with ws.state.engine.begin() as conn:
            conn.execute(
                insert(model_cards).values(
                    run_id=first.run_id, model="churn", card=json.dumps(card), auc=0.81
                )
            )
        write_report(ws, first.run_id)
    finally:
        ws.close()
    second = _run(cfg)
    return cfg, first, second


def test_every_run_writes_a_self_contained_pii_free_report(
    two_runs: tuple[Path, RunSummary, RunSummary],
) -> None:
    cfg, first, second = two_runs
    for summary in (first, second):
        assert summary.report is not None
        assert summary.report == cfg.parent / ".connector" / "reports" / f"{summary.run_id}.html"
        html = summary.report.read_text()
        assert "@" not in html.replace("@media", "")  # no e-mail addresses
        assert "example.org" not in html
        assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", html)  # nothing fetched
        assert "default-src 'none'" in html
        for section in ("Segments", "Score distributions", "Model cards", "Sync results", "Errors"):
            assert f"<h2>{section}" in html
    html1, html2 = first.report.read_text(), second.report.read_text()  # type: ignore[union-attr]
    assert "Calibration: churn" in html1
    assert "0.81" in html1
    assert "average member vs all customers" in html1
    assert f"since run {first.run_id}" in html2  # drift: segment sizes against the previous run
    assert "No model cards for this run" in html2


def test_connector_report_prints_and_rebuilds(
    two_runs: tuple[Path, RunSummary, RunSummary],
) -> None:
    cfg, first, second = two_runs
    assert second.report is not None
    second.report.unlink()
    runner = CliRunner()
    res = runner.invoke(app, ["report", "--config", str(cfg)])
    assert res.exit_code == 0, res.output
    assert res.output.strip().replace("\n", "") == str(second.report)
    assert second.report.exists()
    res = runner.invoke(app, ["report", first.run_id, "--config", str(cfg), "--rebuild"])
    assert res.exit_code == 0
    assert first.run_id in res.output
    res = runner.invoke(app, ["report", "nope", "--config", str(cfg)])
    assert res.exit_code == 2


def _chromium(url: str, *extra: str) -> subprocess.CompletedProcess[str]:
    assert CHROMIUM is not None
    with tempfile.TemporaryDirectory() as profile:
        return subprocess.run(
            [
                CHROMIUM,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
                f"--user-data-dir={profile}",
                "--enable-logging=stderr",
                "--v=0",
                "--virtual-time-budget=3000",
                *extra,
                url,
            ],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )


def _console(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if ":CONSOLE" in line]


@pytest.mark.browser
@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (apt-get install chromium)")
def test_report_draws_its_charts_in_headless_chromium(
    two_runs: tuple[Path, RunSummary, RunSummary], tmp_path: Path
) -> None:
    _cfg, first, _second = two_runs
    assert first.report is not None
    # the console detector works: a page with an error is caught
    bad = tmp_path / "bad.html"
    bad.write_text("<html><body><script>console.error('x'); nosuch();</script></body></html>")
    assert len(_console(_chromium(bad.as_uri(), "--dump-dom").stderr)) == 2

    dom = _chromium(first.report.as_uri(), "--dump-dom")
    assert dom.returncode == 0, dom.stderr[-2000:]
    assert _console(dom.stderr) == []  # no script errors, no CSP refusals
    charts = int(re.search(r'data-charts="(\d+)"', dom.stdout).group(1))  # type: ignore[union-attr]
    drawn = int(re.search(r'data-charts-drawn="(\d+)"', dom.stdout).group(1))  # type: ignore[union-attr]
    assert charts >= 6  # sizes, a profile per segment, score histograms, calibration
    assert drawn == charts  # every chart has laid-out marks with a non-empty box

    # saved with the test's files (pytest keeps the last runs' tmp dirs to look at);
    # benchmarks/screenshots/run-report.png is one such screenshot
    shot = tmp_path / "run-report.png"
    res = _chromium(first.report.as_uri(), "--window-size=1200,2600", f"--screenshot={shot}")
    assert res.returncode == 0
    assert shot.stat().st_size > 20_000  # a page of charts, not a blank canvas
