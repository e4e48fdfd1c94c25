"""`connector demo --engine spark`: the demo through the emulators with features and scores on
Spark local[2], against the same demo on DuckDB: the same plan, the same traits and
memberships at the files destination, and a second run that plans nothing (issue 15)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from connector.engine.session import spark_available

pytestmark = pytest.mark.spark


def _demo(where: Path, *engine: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "connector", "demo", "--dir", str(where), *engine],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
        env={**os.environ, "COLUMNS": "200"},
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def _first_plan(stdout: str) -> list[str]:
    table = stdout.split("Plan (what would change)", 1)[1].split("sample:", 1)[0]
    return [line for line in table.splitlines() if re.match(r"^│ \w", line)]


def _landed(root: Path, name: str, key: list[str]) -> pd.DataFrame:
    frame = pd.read_csv(root / "out" / name, dtype=str)
    return frame.sort_values(key).reset_index(drop=True)


@pytest.mark.long
def test_the_demo_on_spark_plans_and_delivers_what_duckdb_does(tmp_path: Path) -> None:
    missing = spark_available()
    if missing:
        pytest.skip(f"the Spark demo needs PySpark and a JDK: {missing}")
    on_spark = _demo(tmp_path / "spark", "--engine", "spark")
    assert "second run planned 0 changes" in on_spark
    assert 'kind = "spark"' in (tmp_path / "spark" / "connector.toml").read_text()
    assert (tmp_path / "spark" / ".connector" / "warehouse" / "events").is_dir()
    on_duck = _demo(tmp_path / "duck")
    assert _first_plan(on_spark) == _first_plan(on_duck)
    assert len(_first_plan(on_spark)) >= 4
    traits = [_landed(tmp_path / e, "traits.csv", ["profile_id"]) for e in ("spark", "duck")]
    pd.testing.assert_frame_equal(traits[0], traits[1])
    assert len(traits[0]) > 500
    key = ["segment_id", "profile_id"]
    members = [_landed(tmp_path / e, "memberships.csv", key) for e in ("spark", "duck")]
    pd.testing.assert_frame_equal(members[0], members[1])
