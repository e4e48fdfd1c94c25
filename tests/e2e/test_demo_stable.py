"""`connector demo` on two fresh directories prints the same plan, and reaches the ad platforms:
profile ids come from the demo's id key, not a random per-workspace salt, so every count that
depends on them (holdouts, clusters' order) is the same on every machine."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from connector.config import load_config
from connector.workspace import Workspace


def _demo(where: Path) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "connector", "demo", "--dir", str(where)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        env={**os.environ, "COLUMNS": "200"},
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def _first_plan(stdout: str) -> list[str]:
    """The rows of the first run's plan table (destination and counts)."""
    table = stdout.split("Plan (what would change)", 1)[1].split("sample:", 1)[0]
    return [line for line in table.splitlines() if re.match(r"^│ \w", line)]


@pytest.mark.long
@pytest.mark.slow
def test_two_fresh_demos_plan_the_same_and_fill_ad_audiences(tmp_path: Path) -> None:
    first, second = _demo(tmp_path / "a"), _demo(tmp_path / "b")
    rows = _first_plan(first)
    assert rows == _first_plan(second)
    names = {row.split("│")[1].strip() for row in rows}
    assert {"meta_ads", "google_ads", "hubspot_out", "klaviyo_out"} <= names
    cfg = load_config(tmp_path / "a" / "connector.toml")
    ws = Workspace(cfg)
    try:
        run = ws.runs.recent(limit=2)[-1]  # the demo's first run
    finally:
        ws.close()
    apply = run.stages["apply"]
    for dest in ("meta_ads", "google_ads"):
        assert apply[dest]["applied"] > 0, dest
        assert apply[dest]["rejected"] == 0, dest
        assert apply[dest].get("match_rates"), f"{dest} reports a match rate"
