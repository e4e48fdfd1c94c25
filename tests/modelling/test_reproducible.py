"""Two fresh workspaces fed the same input give the same scores, segments and model cards.

Profile ids carry a random per-workspace salt; every random choice of the models (training and
evaluation splits, samples, row order, control groups) is keyed on the data instead (issue 16
item 6, issue 18 item 9). Before that fix, the same customer's score moved between installs.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd
from tests.conftest import write_config

from connector.config import load_config
from connector.pipeline import Workspace, run_pipeline

N_PEOPLE = 600


def _inputs(root: Path) -> None:
    """People with BTYD-like order histories over two years (seeded: same bytes each call)."""
    rng = np.random.default_rng(3)
    people, orders = [], []
    start = np.datetime64("2010-01-01")
    for i in range(N_PEOPLE):
        people.append({"source_id": f"c{i}", "email": f"person{i}@example.org"})
        first = int(rng.integers(0, 600))
        rate = float(rng.gamma(0.8, 1 / 40))
        life = float(rng.exponential(400))
        t = float(first)
        k = 0
        while t < min(first + life, 709):
            day = start + np.timedelta64(int(t), "D")
            orders.append(
                {
                    "source_event_id": f"o{i}-{k}",
                    "type": "order_completed",
                    "occurred_at": f"{day}T12:00:00Z",
                    "email": f"person{i}@example.org",
                    "revenue": round(float(rng.lognormal(3.5, 0.6)), 2),
                    "currency": "GBP",
                }
            )
            k += 1
            t += float(rng.exponential(1 / max(rate, 1e-3)))
    for name, rows in (("profiles/people.jsonl", people), ("events/orders.jsonl", orders)):
        (root / "data" / name).write_text("".join(json.dumps(r) + "\n" for r in rows))


def _workspace_run(root: Path) -> dict[str, Any]:
    extra = "\n[model.core]\nmin_positives = 20\nrule_segments = []\n"
    cfg_path = write_config(root, extra, as_of="2011-12-10", engine="full")
    # write_config appends [model.core] after [destinations.export]: valid TOML tables
    _inputs(root)
    cfg = load_config(cfg_path, env={})
    ws = Workspace(cfg)
    try:
        result = run_pipeline(ws)
        assert result.status == "completed"
        con = ws.data.con
        emails = dict(con.execute("SELECT profile_id, email FROM profiles").fetchall())
        scores = con.execute("SELECT * FROM scores").df()
        members = con.execute("SELECT * FROM memberships").df()
        cards = [
            json.loads(r[0])
            for r in ws.state.engine.connect().exec_driver_sql(
                "SELECT card FROM model_cards ORDER BY model"
            )
        ]
    finally:
        ws.close()
    scores["email"] = scores["profile_id"].map(emails)
    members["email"] = members["profile_id"].map(emails)
    for card in cards:
        card.pop("trained_at")  # when it ran, not what it learnt
    return {
        "scores": scores.drop(columns=["profile_id"]).sort_values("email").reset_index(drop=True),
        "members": members.drop(columns=["profile_id"])
        .sort_values(["segment_id", "email"])
        .reset_index(drop=True),
        "cards": cards,
        "ids": set(emails),
    }


def test_two_fresh_workspaces_give_identical_scores_segments_and_cards(tmp_path: Path) -> None:
    a = _workspace_run(tmp_path / "a")
    b = _workspace_run(tmp_path / "b")
    assert not a["ids"] & b["ids"], "the workspaces really drew different salts"
    propensity = a["cards"][[c["name"] for c in a["cards"]].index("purchase_propensity_30d")]
    assert "hist_gradient_boosting" in propensity["method"], "the trained path is exercised"
    pd.testing.assert_frame_equal(a["scores"], b["scores"])
    pd.testing.assert_frame_equal(a["members"], b["members"])
    assert a["members"]["holdout"].any(), "control groups exist and are the same people"
    assert a["cards"] == b["cards"]


def test_holdout_keys_do_not_depend_on_profile_ids() -> None:
    from connector.modelling.keys import model_keys

    con = duckdb.connect()
    con.execute("CREATE TABLE identity_map (id_key VARCHAR, profile_id VARCHAR)")
    con.execute("INSERT INTO identity_map VALUES ('email:a@x.org', 'p_1'), ('phone:+441', 'p_1')")
    first = model_keys(con, pd.Series(["p_1"]))[0]
    con.execute("UPDATE identity_map SET profile_id = 'p_other'")
    assert model_keys(con, pd.Series(["p_other"]))[0] == first
