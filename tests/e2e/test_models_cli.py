"""The full modelling engine through the runner, and the commands that explain it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pandas as pd
from tests.conftest import write_config

from connector.config import load_config
from connector.demo.dataset import write_demo_inputs
from connector.pipeline import Workspace, run_pipeline


def _cli(cfg: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "connector", *args, "--config", str(cfg)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, "COLUMNS": "200"},
    )


def test_full_engine_scores_segments_holdouts_and_explains_itself(tmp_path: Path) -> None:
    cfg = write_config(tmp_path, engine="full")
    write_demo_inputs(tmp_path / "data", shift=timedelta(0))
    ws = Workspace(load_config(cfg, env={}))
    try:
        first = run_pipeline(ws)
        second = run_pipeline(ws)
        memberships = ws.data.con.execute("SELECT * FROM memberships").df()
    finally:
        ws.close()
    assert first.counts["applied"] > 0
    assert first.report is not None
    page = Path(first.report).read_text()
    for model in ("purchase_propensity_30d", "churn_90d"):
        assert f"Calibration: {model}" in page, "the report plots each classifier's calibration"
    assert "pr auc" in page, "the held-out metrics of the full engine are shown"
    assert "logistic blend, Platt calibration" in page, "the report names each model's method"
    assert second.counts["planned"] == 0, "same data, same model state: nothing to send"

    members = pd.read_csv(tmp_path / "out" / "memberships.csv", dtype=str)
    holdouts = memberships[memberships["holdout"]]
    assert len(holdouts) > 0, "each segment keeps a control group"
    delivered = set(zip(members["segment_id"], members["profile_id"], strict=True))
    assert not delivered & set(zip(holdouts["segment_id"], holdouts["profile_id"], strict=True)), (
        "control-group members are recorded but never activated"
    )

    cards = _cli(cfg, "models", "show")
    assert cards.returncode == 0, cards.stderr
    for name in ("purchase_propensity_30d", "churn_90d", "lifetime_value", "clusters"):
        assert name in cards.stdout
    assert "auc=" in cards.stdout
    assert "blend: boosting share" in cards.stdout, "the card says how the blend was chosen"

    as_json = _cli(cfg, "segments", "-o", "json")
    assert as_json.returncode == 0, as_json.stderr
    assert "[phone]" not in as_json.stdout, "a centroid's fifteen digits are not a phone"
    clusters = [e for e in json.loads(as_json.stdout) if e["kind"] == "cluster"]
    assert clusters, as_json.stdout[:500]
    assert all(isinstance(e["definition"]["centroid"], dict) for e in clusters)

    catalogue = _cli(cfg, "segments")
    assert catalogue.returncode == 0, catalogue.stderr
    assert "tier-high" in catalogue.stdout
    assert "cluster-1" in catalogue.stdout

    lift = _cli(cfg, "segments", "lift", "tier-high", "--until", "2030-01-01")
    assert lift.returncode == 0, lift.stderr
    assert "treated" in lift.stdout
    assert "control" in lift.stdout
    assert "not enough data yet" in lift.stdout, "no conversions: no zero-width interval"
    assert "[0, 0]" not in lift.stdout
    as_json = _cli(cfg, "segments", "lift", "tier-high", "--until", "2030-01-01", "-o", "json")
    assert '"control"' in as_json.stdout
    assert '"enough_data": false' in as_json.stdout
    for until, why in (("bogus", "expected a date as YYYY-MM-DD"), ("2000-01-01", "before")):
        bad = _cli(cfg, "segments", "lift", "tier-high", "--until", until)
        assert bad.returncode == 2, bad.stdout + bad.stderr
        assert why in bad.stderr
        assert "Traceback" not in bad.stderr
    missing = _cli(cfg, "segments", "lift", "no-such-segment")
    assert missing.returncode == 2
    assert "never activated" in missing.stderr


def test_model_card_says_when_a_classifier_fell_back() -> None:
    """Below min_positives the card's reason must reach `models show`, not only the store."""
    from connector.cli.common import console
    from connector.cli.models import _print_card

    card = {
        "name": "purchase_propensity_30d",
        "method": "bgnbd_fallback",
        "fallback_reason": "3 positives / 40 negatives in the training window, below min",
    }
    with console.capture() as captured:
        _print_card(card)
    assert "note: 3 positives / 40 negatives" in captured.get()


def test_model_card_shows_the_sufficiency_verdict_and_readable_parameters() -> None:
    """A marketer reading `models show` learns whether the forecasts may be acted on, and the
    fitted parameters are not masked as phone numbers (a float has fifteen digits)."""
    from connector.cli.common import console
    from connector.cli.models import _print_card

    held = {
        "status": "insufficient",
        "reasons": ["the newest event (2025-06-30) is 519 days before as_of 2026-12-01"],
        "newest_event": "2025-06-30T10:00:00",
        "days_since_newest_event": 519,
        "stale_after_days": 180,
        "buyers": 1967,
        "recent_buyers": 0,
        "predictive_traits_pushed": False,
    }
    card = {
        "name": "lifetime_value",
        "sufficiency": held,
        "parameters": {
            "bgnbd": {"a": 0.00025756962833550534, "converged": True},
            "gamma_gamma": {"q": 3.80676321397811},
        },
    }
    with console.capture() as captured:
        _print_card(card)
    text = captured.get()
    assert "data: insufficient, predictive traits held, not pushed" in text
    assert "519 days before as_of" in text
    assert "[phone]" not in text
    assert "a=0.0002576" in text
    assert "q=3.807" in text

    card = {"name": "churn_90d", "sufficiency": {**held, "status": "sufficient", "reasons": [],
            "days_since_newest_event": 3, "predictive_traits_pushed": True}}  # fmt: skip
    with console.capture() as captured:
        _print_card(card)
    assert "data: sufficient (newest event 2025-06-30 (3 days before as_of" in captured.get()
