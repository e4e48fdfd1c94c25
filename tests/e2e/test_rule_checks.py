"""Rule segments are type-checked by `connector check`; one failing rule never fails the run.

Issue 20: a rule comparing a text column with a number passed `check` and failed the whole
run with a message that did not name the rule.
"""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pandas as pd
import pytest
from tests.conftest import REPO, write_config

from connector.config import load_config
from connector.demo.dataset import write_demo_inputs
from connector.modelling.expr import ExpressionError, typecheck
from connector.modelling.rules import PREFIXES, check_rules, rule_column_types
from connector.modelling.settings import ModelSettings, RuleSegment
from connector.pipeline import Workspace, run_pipeline

GOOD = '{ id = "uk", name = "UK shoppers", expression = "country == \'GB\'" }'
TYPED = '{ id = "uk", name = "UK shoppers", expression = "country > 3" }'
VIP = '{ id = "vip", name = "VIPs", expression = "clv_tier == \'high\' and churn_risk < 0.9" }'


def _config(root: Path, uk_rule: str) -> Path:
    extra = f"\n[model.core]\nrule_segments = [{uk_rule}, {VIP}]\n"
    return write_config(root, extra, engine="full")


def _check(cfg: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONNECTOR_")}
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), str(REPO / "plugins")])
    return subprocess.run(
        [sys.executable, "-m", "connector", "check", "--config", str(cfg)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=cfg.parent,
        env={**env, "COLUMNS": "200"},
    )


@pytest.mark.parametrize(
    ("expression", "why"),
    [
        ("clv_tier > 3", "cannot compare a text with a number"),
        ("churn_risk == 'high'", "cannot compare a number with a text"),
        ("country", "not a condition"),
        ("orders_90d and clv > 1", "not a condition"),
        ("no_such_column > 1", "unknown name"),
        ("updated_at > 5", "cannot compare a time with a number"),
    ],
)
def test_typecheck_names_the_problem(expression: str, why: str) -> None:
    types = rule_column_types(ModelSettings())
    with pytest.raises(ExpressionError, match=why):
        typecheck(expression, types, PREFIXES)


def test_typecheck_accepts_what_the_engine_computes() -> None:
    types = rule_column_types(ModelSettings())
    for expression in (
        "churn_risk > 0.7 and clv_tier == 'high'",
        "not (orders_90d >= 2 or country == 'GB')",
        "cat_home > 0.2 and p_purchase_30d >= 0.5",
        "updated_at >= '2024-01-01'",
    ):
        typecheck(expression, types, PREFIXES)
    settings = ModelSettings(
        rule_segments=(RuleSegment(id="x", name="X", expression="clv_tier > 3"),)
    )
    assert check_rules(settings) == [
        "rule segment 'x' (X): cannot compare a text with a number using '>'"
    ]


def test_column_table_matches_the_engine(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every non-category column the full engine hands the rules has the type the table says."""
    from datetime import datetime

    import duckdb

    from connector.modelling import stages
    from connector.modelling.engine import run_models
    from connector.testing.testdata import generate

    seen: dict[str, pd.DataFrame] = {}
    real = stages.rule_entries

    def spy(frame: pd.DataFrame, settings: ModelSettings) -> object:
        seen["frame"] = frame
        return real(frame, settings)

    con = duckdb.connect()
    generate(con, n_profiles=300, seed=5)
    monkeypatch.setattr(stages, "rule_entries", spy)  # a spy: it only keeps the frame
    # one rule, so the engine reads the profile traits it evaluates rules over
    settings = ModelSettings(
        rule_segments=(RuleSegment(id="loyal", name="Loyal", expression="orders > 3"),)
    )
    run_models(con, as_of=datetime(2025, 1, 1), settings=settings, previous=None)
    types = rule_column_types(settings)
    for column, dtype in seen["frame"].dtypes.items():
        name = str(column)
        if name.startswith("cat_"):
            assert pd.api.types.is_float_dtype(dtype)
            continue
        want = "number" if pd.api.types.is_numeric_dtype(dtype) else "text"
        assert types.get(name) == want, (name, str(dtype))


def test_check_names_a_mistyped_rule_and_a_run_holds_only_that_segment(tmp_path: Path) -> None:
    write_demo_inputs(tmp_path / "data", shift=timedelta(0))
    cfg = _config(tmp_path, GOOD)
    ok = _check(cfg)
    assert ok.returncode == 0, ok.stderr
    ws = Workspace(load_config(cfg, env={}))
    try:
        first = run_pipeline(ws)
    finally:
        ws.close()
    assert first.status != "failed"
    members = pd.read_csv(tmp_path / "out" / "memberships.csv", dtype=str)
    uk_before = sorted(members.loc[members["segment_id"] == "uk", "profile_id"])
    assert uk_before, "the demo data has UK shoppers"

    cfg = _config(tmp_path, TYPED)
    refused = _check(cfg)
    assert refused.returncode == 2, refused.stdout + refused.stderr
    message = " ".join(refused.stderr.split())
    assert "rule segment 'uk' (UK shoppers)" in message, message
    assert "cannot compare a text with a number" in message, message

    ws = Workspace(load_config(cfg, env={}))
    try:
        second = run_pipeline(ws)  # a run without `check` still completes
    finally:
        ws.close()
    assert second.status == "partial"
    assert any("'uk' (UK shoppers)" in f for f in second.failures), second.failures
    assert "vip" in second.stages["model"]["segments"]
    members = pd.read_csv(tmp_path / "out" / "memberships.csv", dtype=str)
    uk_after = sorted(members.loc[members["segment_id"] == "uk", "profile_id"])
    assert uk_after == uk_before, "the failed rule's segment is held, not emptied"
