"""A run long after the newest event holds the predictive traits and says why (issue 16 item 4).

Before, such a run gave everyone a churn risk near 1 and a placeholder next order date, pushed
all of it, and reported `completed` with `drift: ok`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
from tests.conftest import write_config
from tests.modelling.test_reproducible import _inputs

from connector.config import load_config
from connector.pipeline import Workspace, run_pipeline

REPO = Path(__file__).resolve().parents[2]


def _cards(ws: Workspace) -> dict[str, dict[str, object]]:
    with ws.state.engine.connect() as conn:
        rows = conn.exec_driver_sql("SELECT model, card FROM model_cards").fetchall()
    return {str(m): json.loads(c) for m, c in rows}


def test_a_run_a_year_after_the_newest_event_holds_predictive_traits(tmp_path: Path) -> None:
    cfg_path = write_config(tmp_path, as_of="2012-12-31", engine="full")
    _inputs(tmp_path)  # orders up to 2011-12-10
    cli = _cli("run", "--config", str(cfg_path), cwd=tmp_path, timeout=600)
    out = " ".join((cli.stdout + cli.stderr).split())
    assert "predictive traits not pushed" in out, out[-2000:]
    assert "days before as_of 2012-12-31" in out
    traits = pd.read_csv(tmp_path / "out" / "traits.csv", dtype=str)
    assert len(traits) > 0
    for name in ("p_purchase_30d", "churn_risk", "clv", "next_order_date", "predicted_orders"):
        assert name not in traits.columns or traits[name].isna().all(), name
    ws = Workspace(load_config(cfg_path, env={}))
    try:
        cards = _cards(ws)
        verdict = cards["purchase_propensity_30d"]["sufficiency"]
        assert verdict["status"] == "insufficient"
        assert verdict["predictive_traits_pushed"] is False
        assert verdict["days_since_newest_event"] > 365
    finally:
        ws.close()
    reports = sorted((tmp_path / ".connector").rglob("*.html"))
    assert reports, "the run wrote its report"
    assert "Data insufficient, predictive scores not pushed" in reports[-1].read_text()


def test_a_current_run_pushes_and_its_card_says_sufficient(tmp_path: Path) -> None:
    cfg_path = write_config(tmp_path, as_of="2011-12-10", engine="full")
    _inputs(tmp_path)
    ws = Workspace(load_config(cfg_path, env={}))
    try:
        result = run_pipeline(ws)
        cards = _cards(ws)
    finally:
        ws.close()
    assert result.status == "completed", result.failures
    assert cards["purchase_propensity_30d"]["sufficiency"]["status"] == "sufficient"
    traits = pd.read_csv(tmp_path / "out" / "traits.csv", dtype=str)
    assert traits["churn_risk"].notna().all()


def test_too_few_buyers_holds_scores_with_a_note_and_the_run_succeeds(tmp_path: Path) -> None:
    """Found by an exploratory pass: a small shop's every scheduled run ended partial (exit 3)
    only because its predictive scores were held for too few buyers, its steady state, so a
    scheduler paged on every run. Current data with too few buyers: the scores are held and
    the run says so in a note, but completes (exit 0); stale data stays a failure (above)."""
    extra = "\n[model.core]\nmin_buyers = 100000\n"
    cfg_path = write_config(tmp_path, extra, as_of="2011-12-10", engine="full")
    _inputs(tmp_path)
    cli = _cli("run", "--config", str(cfg_path), cwd=tmp_path, timeout=600)
    out = " ".join((cli.stdout + cli.stderr).split())
    assert cli.returncode == 0, out[-2000:]
    assert "note: predictive traits not pushed" in out, out[-2000:]
    assert "below min_buyers=100000" in out
    traits = pd.read_csv(tmp_path / "out" / "traits.csv", dtype=str)
    assert "churn_risk" not in traits.columns or traits["churn_risk"].isna().all()
    ws = Workspace(load_config(cfg_path, env={}))
    try:
        run = ws.runs.recent(1)[0]
    finally:
        ws.close()
    assert run.status == "completed"
    assert "below min_buyers=100000" in (run.message or "")


def test_push_insufficient_scores_pushes_them_anyway(tmp_path: Path) -> None:
    extra = "\n[model.core]\npush_insufficient_scores = true\n"
    cfg_path = write_config(tmp_path, extra, as_of="2012-12-31", engine="full")
    _inputs(tmp_path)
    ws = Workspace(load_config(cfg_path, env={}))
    try:
        run_pipeline(ws)
        verdict = _cards(ws)["churn_90d"]["sufficiency"]
    finally:
        ws.close()
    assert verdict["status"] == "insufficient"
    assert verdict["predictive_traits_pushed"] is True
    traits = pd.read_csv(tmp_path / "out" / "traits.csv", dtype=str)
    assert traits["churn_risk"].notna().all()


RULES = (
    "\n[model.core]\nrule_segments = ["
    '{ id = "big", name = "Big spenders", expression = "revenue_total > 100" }, '
    '{ id = "risk", name = "At risk", expression = "churn_risk > 0.5 and orders > 1" }]\n'
)


def _members(root: Path) -> set[tuple[str, str]]:
    frame = pd.read_csv(root / "out" / "memberships.csv", dtype=str)
    return set(zip(frame["segment_id"], frame["profile_id"], strict=True))


def _cli(
    *args: str, cwd: Path | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), str(REPO / "plugins")])}
    return subprocess.run(
        [sys.executable, "-m", "connector", *args],
        capture_output=True,
        text=True,
        env={**env, "COLUMNS": "250"},
        cwd=cwd,
        timeout=timeout,
        check=False,
    )


def test_a_stale_run_holds_the_lists_built_on_forecasts_too(tmp_path: Path) -> None:
    """Value tiers are cuts of the predicted lifetime value, and a rule reading churn risk is as
    stale as the churn risk: a run a year after the newest event leaves their memberships as
    they were delivered, while a list built on observed data moves on."""
    cfg_path = write_config(tmp_path, RULES, as_of="2011-12-10", engine="full")
    _inputs(tmp_path)
    ws = Workspace(load_config(cfg_path, env={}))
    activated = "SELECT segment_id, profile_id FROM activations WHERE segment_id LIKE 'tier-%'"
    try:
        current = run_pipeline(ws)
        first_activated = set(ws.data.con.execute(activated).fetchall())
        delivered = {e.segment_id: e for e in ws.catalogue.all()}
    finally:
        ws.close()
    assert current.status == "completed", current.failures
    before = _members(tmp_path)
    segments = {s for s, _ in before}
    assert {"tier-high", "tier-low", "risk", "big"} <= segments, segments

    write_config(tmp_path, RULES, as_of="2012-12-31", engine="full")
    ws = Workspace(load_config(cfg_path, env={}))
    try:
        stale = run_pipeline(ws)
        assert set(ws.data.con.execute(activated).fetchall()) == first_activated, (
            "a held list's re-cut members are not activated: lift is measured from delivery"
        )
        catalogue = {e.segment_id: e for e in ws.catalogue.all()}
        recut = ws.data.con.execute(
            "SELECT segment_id, count(*) FROM memberships WHERE NOT holdout GROUP BY 1"
        ).fetchall()
    finally:
        ws.close()
    after = _members(tmp_path)
    message = " ".join(stale.failures)
    assert "nor the lists built on them" in message, message
    assert "High value" in message, message
    assert "At risk" in message, message
    assert "Big spenders" not in message, "a rule on observed revenue is not a forecast"
    for segment in ("tier-low", "tier-medium", "tier-high", "risk"):
        assert {m for m in after if m[0] == segment} == {m for m in before if m[0] == segment}, (
            f"{segment}: memberships left as delivered"
        )
    # the person's card says so too: the scores shown are not what the destinations hold
    member = next(pid for sid, pid in after if sid == "tier-high")
    explained = _cli("profiles", "explain", member, "-c", str(cfg_path))
    assert explained.returncode == 0, explained.stderr
    card = explained.stdout
    assert "forecasts held, not pushed by the last run: the newest event" in card, card
    assert "(held, not pushed)" in card
    assert "held with the forecasts: not synced by the last run" in card
    # the catalogue lists what the destinations hold, not the re-cut nobody received
    sizes = {sid: e.size for sid, e in catalogue.items()}
    assert dict(recut)["tier-high"] != delivered["tier-high"].size, "the stale re-cut moved"
    for segment in ("tier-low", "tier-medium", "tier-high", "risk"):
        assert sizes[segment] == delivered[segment].size, segment
        assert catalogue[segment].definition == delivered[segment].definition, segment
    listed = _cli("segments", "-c", str(cfg_path))
    assert listed.returncode == 0, listed.stderr
    rows = {line.split("│")[1].strip(): line for line in listed.stdout.splitlines()
            if line.count("│") > 5}  # fmt: skip
    assert "held" in rows["tier-high"].split("│")[-2], rows["tier-high"]
    assert "held" not in rows["big"].split("│")[-2], rows["big"]
    assert "held: the last run did not sync these lists" in listed.stdout, listed.stdout
    assert stale.stages["model"]["held_segments"].keys() == {
        "tier-low",
        "tier-medium",
        "tier-high",
        "risk",
    }


def test_held_segments_are_the_tiers_and_the_rules_that_read_a_forecast() -> None:
    from connector.modelling.output import SegmentDef
    from connector.modelling.sufficiency import held_segments

    def rule(sid: str, expression: str) -> SegmentDef:
        return SegmentDef(sid, sid.upper(), "rule", "", json.dumps({"expression": expression}))

    segments = [
        SegmentDef("tier-high", "High value", "tier", "", "{}"),
        SegmentDef("cluster-1", "Active", "cluster", "", "{}"),
        rule("uk", "country == 'GB' and orders > 2"),
        rule("alive", "bg_p_alive < 0.2"),
        rule("soon", "bg_p_purchase_30d > 0.5 or days_to_next_order < 10"),
        rule("buyers", "p_purchase_30d > 0.4"),
        rule("rt", "churn_risk > 0.5 and count(product_viewed, 7d) >= 3"),  # a window rule
        rule("rt_obs", "count(product_viewed, 7d) >= 3 and orders > 1"),
    ]
    held = ["p_purchase_30d", "churn_risk", "clv", "clv_tier"]
    assert set(held_segments(segments, held)) == {"tier-high", "alive", "soon", "buyers", "rt"}
    assert held_segments(segments, []) == {}, "nothing held: every list moves"
