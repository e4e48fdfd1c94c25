"""The report a marketer reads, over three runs with orders arriving after activation: the shop's
currency, segment sizes over time, lift with its interval over time, where each audience went,
who is reachable per channel after consent, and an index page across runs; both pages open in
headless Chromium with no console error and every chart laid out."""

from __future__ import annotations

import json
import os
import re
import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest
from tests.report.test_run_report import CHROMIUM, _chromium, _console
from tests.scheduler.pipeline_helpers import make_pipeline

from connector.config import load_config
from connector.pipeline import Workspace, run_pipeline
from connector.pipeline.runner import RunSummary

SHOTS = "CONNECTOR_REPORT_SCREENSHOTS"  # a directory: the test saves its screenshots there too


def _run(cfg: Path) -> RunSummary:
    ws = Workspace(load_config(cfg, env={}))
    try:
        return run_pipeline(ws)
    finally:
        ws.close()


@pytest.fixture(scope="module")
def three_runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[RunSummary]]:
    root = tmp_path_factory.mktemp("marketer")
    cfg = make_pipeline(root, people=160)
    # the full engine keeps a control group per segment, which lift is measured against
    cfg.write_text(cfg.read_text().replace('engine = "rfm"', 'engine = "full"'))
    runs = [_run(cfg)]
    # orders after activation, from half the people (treated and control alike), so lift can
    # be measured in the next runs' windows
    # (now, to the microsecond: after run 1 activated, before run 2 ends however fast it is)
    at = datetime.now(UTC).isoformat()
    late = [
        {
            "source_event_id": f"late-{i}",
            "type": "order_completed",
            "occurred_at": at,
            "email": f"person{i}@example.org",
            "revenue": 20 + (i * 11) % 90,
            "currency": "GBP",
        }
        for i in range(0, 160, 2)
    ]
    (root / "data" / "events" / "late.jsonl").write_text(
        "".join(json.dumps(o) + "\n" for o in late)
    )
    runs += [_run(cfg), _run(cfg)]
    return cfg, runs


def test_the_report_speaks_to_a_marketer(three_runs: tuple[Path, list[RunSummary]]) -> None:
    _cfg, runs = three_runs
    assert runs[-1].report is not None
    html = runs[-1].report.read_text()
    assert "Customer segments and activation" in html
    assert "GBP" in html, "amounts in the shop's currency"
    assert "Segment sizes per run" in html, "segment sizes over time"
    assert "extra revenue per member vs control" in html, "lift over time, charted"
    assert "95% low" in html
    assert "95% high" in html
    for heading in ("Who can be reached", "Where each audience went", "Lift since activation"):
        assert f"<h2>{heading}</h2>" in html
    assert "not reported by the platform" in html  # the files export reports no match rate
    assert "{}" not in html.split("<h2>Drift", 1)[1].split("<h2>", 2)[1]
    assert "@" not in html.replace("@media", "")
    assert "example.org" not in html
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", html), "nothing fetched"
    assert "<script" not in html.split("<body>", 1)[1].rsplit("<script>", 1)[0], "static SVG"

    index = runs[-1].report.parent / "index.html"
    page = index.read_text()
    for run in runs:
        assert f'href="{run.run_id}.html"' in page
    assert "Segment sizes per run" in page
    assert "example.org" not in page


@pytest.mark.browser
@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (apt-get install chromium)")
def test_report_and_index_lay_out_every_chart_in_chromium(
    three_runs: tuple[Path, list[RunSummary]], tmp_path: Path
) -> None:
    _cfg, runs = three_runs
    report = runs[-1].report
    assert report is not None
    for page, least in ((report, 10), (report.parent / "index.html", 2)):
        dom = _chromium(page.as_uri(), "--dump-dom")
        assert dom.returncode == 0, dom.stderr[-2000:]
        assert _console(dom.stderr) == [], page.name  # no script errors, no CSP refusals
        charts = int(re.search(r'data-charts="(\d+)"', dom.stdout).group(1))  # type: ignore[union-attr]
        drawn = int(re.search(r'data-charts-drawn="(\d+)"', dom.stdout).group(1))  # type: ignore[union-attr]
        assert charts >= least, page.name
        assert drawn == charts, f"{page.name}: {drawn} of {charts} charts laid out"
        shot = tmp_path / f"{page.stem}.png"
        res = _chromium(page.as_uri(), "--window-size=1150,2400", f"--screenshot={shot}")
        assert res.returncode == 0
        assert shot.stat().st_size > 20_000  # charts, not a blank canvas
        if os.environ.get(SHOTS):
            shutil.copy(shot, Path(os.environ[SHOTS]) / shot.name)
