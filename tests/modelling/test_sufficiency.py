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
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), str(REPO / "plugins")])}
    cli = subprocess.run(
        [sys.executable, "-m", "connector", "run", "--config", str(cfg_path)],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=600,
        check=False,
    )
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
