"""Issue 12, Klaviyo part of the live-account suite: while the connector pulls over five runs,
the account changes under it (over 1,000 edits, deletions, merges, new profiles and events
back-dated by up to 71 h); afterwards the store equals the emulator's truth and no deleted
person is active or in any destination. The whole pipeline runs against every emulator
destination (Klaviyo and HubSpot lists, a Meta audience, a Google list, Segment, files)."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.gauntlet import figures
from tests.gauntlet import harness as h
from tests.gauntlet.live_klaviyo import Mutator, truth_check

from connector.config import load_config
from connector.pipeline import Workspace, run_pipeline
from connector.pipeline.runner import RunSummary

RUNS = 5
PER_RUN = 220


def _config(root: Path, p: h.Platforms) -> Path:
    cfg = h.write_config(root, p)
    text = cfg.read_text()
    head = '[sources.hubspot]\nplugin = "hubspot"\n'
    text = text.replace(head, head + "enabled = false\n")  # one source: Klaviyo's truth
    head = '[sources.klaviyo]\nplugin = "klaviyo"\n'
    text = text.replace(head, head + "profile_reconcile_hours = 0\n")
    cfg.write_text(text)
    return cfg


def _run(cfg: Path, p: h.Platforms) -> RunSummary:
    ws = Workspace(load_config(cfg, env=p.env))
    try:
        return run_pipeline(ws)
    finally:
        ws.close()


@pytest.mark.slow
def test_klaviyo_changing_under_five_pulls_ends_equal_to_the_store(tmp_path: Path) -> None:
    with h.platforms(300, seed=23) as p:
        cfg = _config(tmp_path / "ws", p)
        mutator = Mutator(p.klaviyo)
        mutator.fresh_events(30)
        statuses = []
        for n in range(1, RUNS + 1):
            thread = mutator.start(PER_RUN)
            summary = _run(cfg, p)
            mutator.finish(thread, PER_RUN * n)
            mutator.fresh_events(5)
            statuses.append(summary.status)
        # the changes of the last run's window are caught by the next run; a second quiet run
        # pulls back what the destinations' writes changed in Klaviyo
        settle = [_run(cfg, p) for _ in range(2)]
        truth = truth_check(p, cfg.parent)
    mutations = sum(mutator.kinds.values())
    figures.record(
        "live",
        "klaviyo",
        {
            "mutations": mutations,
            "during_runs": mutator.during,
            "runs": RUNS,
            "lost": truth["lost"] + truth["events_lost"],
            "stale": truth["stale"],
            "late_events": truth["late_events"],
            "late_lost": truth["late_lost"],
            "deleted_people": truth["deleted_people"],
            "deleted_active": truth["deleted_active"],
            "in_destination": truth["in_destination"],
        },
    )
    assert mutations >= 1000
    assert mutator.during > 0
    assert [s.status for s in settle] == ["completed", "completed"], [s.failures for s in settle]
    assert truth["late_events"] > 100
    assert truth["deleted_people"] >= 50
    problems = {k: truth[k] for k in ("lost", "stale", "events_lost", "late_lost")}
    problems |= {k: truth[k] for k in ("deleted_active", "in_destination")}
    assert problems == dict.fromkeys(problems, 0), (problems, truth["samples"], statuses)
