"""Scores that hold when 1 % of the store changes: only the changed profiles move.

A run that refitted the classifiers on 1 % more data moved churn risk past its delivered
precision for most profiles whose data had not changed, so the plan re-sent nearly everyone.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from types import SimpleNamespace
from typing import Any, cast

import duckdb
import numpy as np
import pandas as pd
import pytest

from connector.modelling.blend import BoostedLogitBlend
from connector.modelling.engine import ModelResult, ModelState, run_models
from connector.modelling.frozen import FrozenBlend
from connector.modelling.reuse import frozen_classifiers
from connector.modelling.settings import ModelSettings
from connector.testing.testdata import generate

AS_OF = datetime(2025, 1, 1)
SETTINGS = ModelSettings()


def _within_band(before: pd.Series, after: pd.Series, digits: int) -> pd.Series:
    """The planner's dead band (`connector.sync.settle`): at most one unit apart, rounded."""
    scale = 10**digits
    return (np.round(after * scale) - np.round(before * scale)).abs() <= 1


def _pairs(result: ModelResult) -> set[tuple[str, str]]:
    rows = result.memberships[["profile_id", "segment_id"]].itertuples(index=False)
    return {(str(p), str(s)) for p, s in rows}


@pytest.fixture(scope="module")
def runs() -> tuple[ModelResult, ModelResult, list[str], duckdb.DuckDBPyConnection]:
    con = duckdb.connect()
    generate(con, n_profiles=3000, seed=11)
    first = run_models(con, as_of=AS_OF, settings=SETTINGS, previous=None)
    ids = first.features.loc[first.features["orders"] > 0, "profile_id"]
    changed = ids.sample(frac=0.01, random_state=3).tolist()
    rng = np.random.default_rng(4)
    con.executemany(
        "INSERT INTO events VALUES (?, ?, 'order_completed', ?, ?, 'EUR', NULL, 't')",
        [
            [f"new-{i}", pid, AS_OF - timedelta(days=int(d)), 60.0]
            for i, (pid, d) in enumerate(
                zip(changed, rng.integers(1, 300, len(changed)), strict=True)
            )
        ],
    )
    state = ModelState.model_validate_json(first.state.model_dump_json())  # as the runner keeps it
    second = run_models(con, as_of=AS_OF, settings=SETTINGS, previous=state)
    return first, second, changed, con


def test_a_one_percent_change_moves_only_the_changed_profiles(
    runs: tuple[ModelResult, ModelResult, list[str], duckdb.DuckDBPyConnection],
) -> None:
    first, second, changed, _ = runs
    a = first.scores.set_index("profile_id")
    b = second.scores.set_index("profile_id").reindex(a.index)
    still = ~a.index.isin(changed)
    for column in ("churn_risk", "p_purchase_30d"):
        held = _within_band(a[column], b[column], 2)
        assert held.mean() >= 0.95, (column, float(held.mean()))
        # an unchanged profile is scored by the same classifiers: its score does not move
        assert held[still].all(), (column, int((~held[still]).sum()))
    for column in ("clv", "clv_tier", "expected_purchases", "next_order_date", "cluster_id"):
        assert (a.loc[still, column] == b.loc[still, column]).all(), column
    before, after = _pairs(first), _pairs(second)
    kept = len(before & after) / len(before)
    assert kept >= 0.95, kept
    assert all("reused" in card for card in second.model_cards), "the cards say so"


def test_a_reused_fit_keeps_its_anchor_so_unchanged_scores_stay_to_the_bit(
    runs: tuple[ModelResult, ModelResult, list[str], duckdb.DuckDBPyConnection],
) -> None:
    """Anchored again on the changed store, the shift moved by a hair and with it every
    unchanged buyer's score: within the band, but each one a change the plan had to settle."""
    first, second, changed, _ = runs
    a = first.scores.set_index("profile_id")
    b = second.scores.set_index("profile_id").reindex(a.index)
    still = ~a.index.isin(changed)
    for column in ("churn_risk", "p_purchase_30d"):
        assert (a.loc[still, column] == b.loc[still, column]).all(), column
    shifts = {name: m["anchor"]["shift"] for name, m in second.state.fitted["models"].items()}
    assert shifts == {
        name: m["anchor"]["shift"] for name, m in first.state.fitted["models"].items()
    }
    anchors = [c["calibration_anchor"] for c in second.model_cards if "calibration_anchor" in c]
    assert anchors, "the classifiers' cards show their anchor"
    assert all("reused" in a for a in anchors)


def test_a_new_day_refits(
    runs: tuple[ModelResult, ModelResult, list[str], duckdb.DuckDBPyConnection],
) -> None:
    _, second, _, con = runs
    later = run_models(
        con, as_of=AS_OF + timedelta(days=1), settings=SETTINGS, previous=second.state
    )
    assert all("reused" not in c for c in later.model_cards)
    assert later.state.fitted["fit_key"] != second.state.fitted["fit_key"]


@pytest.mark.parametrize("share", [0.0, 0.5, 1.0])
def test_frozen_blend_scores_as_the_fitted_one(share: float) -> None:
    rng = np.random.default_rng(6)
    x = rng.lognormal(size=(3000, 4))
    x[rng.random(x.shape) < 0.1] = np.nan  # never-happened features are missing
    y = (rng.random(3000) < 1 / (1 + np.exp(-np.log1p(np.nan_to_num(x[:, 0]))))).astype(int)
    keys = [f"k{i}" for i in range(len(y))]
    fitted = BoostedLogitBlend(7, share).fit(x, y, keys)
    frozen = FrozenBlend(fitted.freeze())
    assert np.allclose(frozen.score(x), fitted.score(x), rtol=0, atol=1e-12)


def test_a_fit_whose_trees_cannot_be_read_is_not_kept() -> None:
    """Another scikit-learn may lay its fitted trees out otherwise: nothing is kept (the next
    run refits) instead of the run failing."""

    class Unreadable:
        def freeze(self) -> dict[str, object]:
            raise AttributeError("'HistGradientBoostingClassifier' object has no '_predictors'")

    clf = SimpleNamespace(model=Unreadable(), calibrator=SimpleNamespace(freeze=dict))
    assert frozen_classifiers(cast(Any, None), (cast(Any, clf),), {}) == {}
