"""The scale benchmark in small: no stage of a whole run may cost more than linearly.

The same generated data as ``benchmarks/run_scale.py`` (JSON-lines profiles, Parquet events,
10 per profile) at two sizes four times apart, files in and files out, each size in a fresh
workspace, the first run then a run after 1 % of the profiles changed. Each stage's CPU seconds
(the process's, every thread: steadier than wall time on a shared host) at the larger size must
stay within 1.6 x the size ratio of those at the smaller one (floored, so a stage of a few
milliseconds cannot fail on noise). No absolute time limit. The files destination writes in
batches of 400, so a sink that rewrites its output per batch shows up as quadratic.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from connector.config import load_config
from connector.pipeline import Workspace, run_pipeline
from connector.testing.scale_data import config_text, write_change, write_initial

STAGES = ("pull", "unify", "model", "plan", "apply")
SMALL, LARGE = 1_500, 6_000
SLACK = 1.6
FLOOR = 0.25  # CPU seconds: the smaller run's cost of a stage is taken as at least this


def _runs(root: Path, profiles: int) -> list[dict[str, Any]]:
    write_initial(root / "data", profiles)
    cfg = root / "connector.toml"
    cfg.write_text(config_text(root, None) + "batch_size = 400\n")
    costs = []
    for step in ("first", "changed"):
        if step == "changed":
            write_change(root / "data", profiles)
        ws = Workspace(load_config(cfg, env={}))
        try:
            summary = run_pipeline(ws)
        finally:
            ws.close()
        assert summary.status == "completed", summary.failures
        assert summary.counts["profiles"] >= profiles * 0.99
        costs.append({s: float(summary.stages[s]["cpu_seconds"]) for s in STAGES})
    return costs


@pytest.mark.slow
def test_no_stage_grows_faster_than_the_data(tmp_path: Path) -> None:
    small = _runs(tmp_path / "small", SMALL)
    large = _runs(tmp_path / "large", LARGE)
    ratio = LARGE / SMALL
    worse = {
        f"{run} {stage}": (round(s[stage], 2), round(big[stage], 2))
        for run, s, big in zip(("first", "changed"), small, large, strict=True)
        for stage in STAGES
        if big[stage] > SLACK * ratio * max(s[stage], FLOOR)
    }
    assert not worse, (
        f"CPU seconds (small, large) of stages that grew past {SLACK}x{ratio}: {worse}"
    )
