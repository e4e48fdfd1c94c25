"""``connector runs`` stays readable on an 80-column terminal: every count is shown in full."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from connector.cli.render import print_runs
from connector.state.runs import RunRow

ROW = RunRow(
    run_id="r20261202T054303-203838",
    started_at="2026-12-02T05:43:03+00:00",
    ended_at=None,
    status="completed_with_rejects",
    dry_run=False,
    counts={"pulled": 6210, "planned": 5414, "applied": 5413, "rejected": 1},
    error_count=7,
)


@pytest.mark.parametrize("width", [80, 100, 160])
def test_every_count_readable(width: int) -> None:
    out = io.StringIO()
    print_runs(Console(file=out, width=width, color_system=None), [ROW])
    text = out.getvalue()
    assert max(len(line) for line in text.splitlines()) <= width
    flat = " ".join(text.split())
    for needle in ("r20261202T054303-203838", "completed_with_rejects", "2026-12-02 05:43"):
        assert needle in flat
    for value in ("6210", "5414", "5413"):
        assert value in text  # a number is never cut across lines or columns
    for header in ("pulled", "planned", "applied", "rejected", "errors"):
        assert header in text
