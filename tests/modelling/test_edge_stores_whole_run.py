"""Edge-case stores through the whole run (pull, unify, model, push to files), judged by what
lands: no crash, and every numeric trait pushed is finite, money never negative (issue 16
Done-when). `test_edge_stores` runs all twenty through the model stage; these are the ones
whose money or dates are hostile, with `push_insufficient_scores` on so that the predictive
traits of these tiny or odd stores are pushed too, not held.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from tests.conftest import write_config
from tests.modelling.test_edge_stores import AS_OF, STORES

from connector.config import load_config
from connector.pipeline import Workspace, run_pipeline

HOSTILE = (
    "only returns",
    "orders fully refunded",
    "future-dated events",
    "all one-time buyers on one day",
    "huge revenue",
    "five profiles",
)
MONEY = ("aov", "clv", "revenue_total", "monetary", "expected_spend", "predicted_spend")


def _write(root: Path, name: str) -> None:
    rows = STORES[name]
    people = sorted({pid for pid, *_ in rows})
    profiles = [{"source_id": p, "email": f"{p}@example.org"} for p in people]
    events = []
    for i, (pid, etype, when, revenue, props) in enumerate(rows):
        event = {
            "source_event_id": f"e{i}",
            "type": etype,
            "occurred_at": when.isoformat() + "Z",
            "email": f"{pid}@example.org",
            "currency": "EUR",
        }
        if revenue is not None:
            event["revenue"] = revenue
        if props is not None:
            event["properties"] = json.loads(props)
        events.append(event)
    for sub, data in (("profiles/people.jsonl", profiles), ("events/events.jsonl", events)):
        (root / "data" / sub).write_text("".join(json.dumps(r) + "\n" for r in data))


@pytest.mark.slow  # about 4 s a store on an idle host, six stores
@pytest.mark.parametrize("name", HOSTILE)
def test_hostile_store_pushes_only_finite_non_negative_money(tmp_path: Path, name: str) -> None:
    extra = "\n[model.core]\npush_insufficient_scores = true\n"
    cfg_path = write_config(tmp_path, extra, as_of=AS_OF.date().isoformat(), engine="full")
    _write(tmp_path, name)
    ws = Workspace(load_config(cfg_path, env={}))
    try:
        result = run_pipeline(ws)
    finally:
        ws.close()
    assert result.status == "completed", (name, result.failures)
    traits = pd.read_csv(tmp_path / "out" / "traits.csv")
    assert len(traits) > 0, name
    for col in traits.columns:
        if traits[col].dtype.kind == "f":
            values = traits[col].dropna().to_numpy(float)
            assert np.isfinite(values).all(), (name, col)
    assert {"clv", "aov"} <= set(traits.columns), (name, list(traits.columns))
    for col in (c for c in MONEY if c in traits.columns):
        assert (traits[col].dropna() >= 0).all(), (name, col)
