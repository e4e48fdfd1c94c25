"""Kept classifier scores (`connector.modelling.score_cache`): a run that scores only the
profiles whose inputs changed gives what a run that scores everyone gives, bit for bit."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import numpy.typing as npt
import pandas as pd
import pytest
from pandas.testing import assert_frame_equal

from connector.modelling.blend import BoostedLogitBlend
from connector.modelling.engine import ModelResult, ModelState, run_models
from connector.modelling.frozen import FrozenBlend
from connector.modelling.score_cache import TABLE
from connector.modelling.settings import ModelSettings
from connector.testing.testdata import generate

AS_OF = datetime(2025, 1, 1)
SETTINGS = ModelSettings()


class _Runs:
    def __init__(self) -> None:
        self.scored: list[int] = []  # rows each FrozenBlend.score call saw, per run
        self.results: dict[str, ModelResult] = {}
        self.changed: list[str] = []


def _run_counting(
    con: duckdb.DuckDBPyConnection, state: ModelState | None, runs: _Runs, name: str
) -> None:
    seen: list[int] = []
    original = FrozenBlend.score

    def counting(self: FrozenBlend, x: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        seen.append(len(x))
        return original(self, x)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(FrozenBlend, "score", counting)
        runs.results[name] = run_models(con, as_of=AS_OF, settings=SETTINGS, previous=state)
    runs.scored.append(sum(seen))


@pytest.fixture(scope="module")
def runs() -> _Runs:
    out = _Runs()
    con = duckdb.connect()
    generate(con, n_profiles=3000, seed=11)
    _run_counting(con, None, out, "first")
    first = out.results["first"]
    buyers = first.features.loc[first.features["orders"] > 0, "profile_id"]
    out.changed = buyers.sample(frac=0.01, random_state=3).tolist()
    rng = np.random.default_rng(4)
    days = rng.integers(1, 300, len(out.changed))
    con.executemany(
        "INSERT INTO events VALUES (?, ?, 'order_completed', ?, ?, 'EUR', NULL, 't')",
        [
            [f"new-{i}", pid, AS_OF - timedelta(days=int(d)), 60.0]
            for i, (pid, d) in enumerate(zip(out.changed, days, strict=True))
        ],
    )
    state = ModelState.model_validate_json(first.state.model_dump_json())  # as the runner keeps it
    _run_counting(con, state, out, "incremental")
    con.execute(f"DROP TABLE {TABLE}")  # nothing kept: every profile is scored
    _run_counting(con, state, out, "full")
    return out


def _frames(result: ModelResult) -> dict[str, pd.DataFrame]:
    return {"features": result.features, "scores": result.scores, "memberships": result.memberships}


def test_scoring_only_the_changed_profiles_equals_scoring_everyone(runs: _Runs) -> None:
    incremental, full = runs.results["incremental"], runs.results["full"]
    for name, frame in _frames(incremental).items():
        assert_frame_equal(frame, _frames(full)[name], check_exact=True, obj=name)
    assert incremental.drift == full.drift
    assert incremental.segments == full.segments
    cards = [{k: v for k, v in c.items() if k != "trained_at"} for c in incremental.model_cards]
    assert cards == [{k: v for k, v in c.items() if k != "trained_at"} for c in full.model_cards]


def test_only_the_changed_profiles_are_scored_again(runs: _Runs) -> None:
    first, incremental = runs.results["first"], runs.results["incremental"]
    profiles = len(first.features)
    assert all("reused" in card for card in incremental.model_cards[:2])
    # two classifiers: each scores the changed profiles (each got an order) and no one else
    assert runs.scored[1] == 2 * len(runs.changed)
    assert runs.scored[2] == 2 * profiles
    # and what they were scored on moved: the kept scores would have been wrong for them
    a = first.features.set_index("profile_id").loc[runs.changed, "orders"]
    b = incremental.features.set_index("profile_id").loc[runs.changed, "orders"]
    assert (b > a).all()


def test_a_changed_input_bit_is_scored_again() -> None:
    """The lookup compares inputs bit for bit: the smallest change to one input of one profile
    rescores that profile, and a profile id not kept is scored."""
    from connector.modelling.score_cache import cached_uncalibrated

    con = duckdb.connect()
    generate(con, n_profiles=800, seed=5)
    result = run_models(con, as_of=AS_OF, settings=SETTINGS, previous=None)
    state = ModelState.model_validate_json(result.state.model_dump_json())
    from connector.modelling.reuse import reusable_classifiers
    from connector.modelling.stages import ModelRun, ParsedProducts

    run = ModelRun(con, AS_OF, SETTINGS, ParsedProducts(None, None))
    by_name = reusable_classifiers(run, state.fitted, state.fitted["basis"]) or {}
    assert by_name, "the first run's classifiers are reusable"
    models = {"propensity": by_name["purchase_propensity_30d"], "churn": by_name["churn_90d"]}
    frame = con.sql(f"SELECT profile_id FROM {TABLE}").df()
    columns = sorted({c for clf in models.values() for c in clf.columns})
    kept = con.sql(f"SELECT * FROM {TABLE}").df()
    for i, column in enumerate(columns):
        frame[column] = kept[f"x{i}"].to_numpy()
    frame.loc[3, columns[0]] = np.nextafter(frame.loc[3, columns[0]], np.inf)
    frame.loc[len(frame)] = ["someone-new", *frame.loc[0, columns]]
    rows: list[Any] = []

    def score(part: pd.DataFrame) -> pd.DataFrame:
        rows.extend(part["profile_id"])
        return pd.DataFrame({k: clf.uncalibrated_horizon(part) for k, clf in models.items()})

    cached_uncalibrated(con, frame, models, score)
    assert rows == [frame.loc[3, "profile_id"], "someone-new"]


def test_a_split_on_missing_values_scores_the_same_after_the_state() -> None:
    """scikit-learn splits "missing or not" with an infinite threshold, which the model
    state's JSON writes as null: read back as NaN it sent every present value the wrong way,
    so a run reusing the classifiers scored those profiles differently from the run that
    fitted them."""
    rng = np.random.default_rng(8)
    n = 4000
    x = rng.lognormal(size=(n, 3))
    missing = rng.random(n) < 0.4
    x[missing, 0] = np.nan
    y = (rng.random(n) < np.where(missing, 0.8, 0.2)).astype(int)
    fitted = BoostedLogitBlend(7, 1.0).fit(x, y, [f"k{i}" for i in range(n)])
    frozen = fitted.freeze()
    thresholds = [t for tree in frozen["trees"]["trees"] for t in tree["num_threshold"]]
    assert np.inf in thresholds, "the data makes a split on missing values"
    state = ModelState(
        as_of=AS_OF.isoformat(),
        clusters=[],
        next_cluster_id=1,
        scaler={},
        catalogue=[],
        distributions={},
        segment_sizes={},
        fitted={"model": frozen},
    )
    back = ModelState.model_validate_json(state.model_dump_json()).fitted["model"]
    assert np.array_equal(FrozenBlend(back).score(x), FrozenBlend(frozen).score(x))
    assert np.allclose(FrozenBlend(back).score(x), fitted.score(x), rtol=0, atol=1e-12)


def test_an_erasure_removes_the_kept_inputs_of_the_person(tmp_path: Path) -> None:
    """The kept inputs are behaviour of a person (orders, revenue, engagement): erased with
    their features and scores."""
    from connector.store.datastore import DataStore
    from connector.store.purge import purge_profiles

    store = DataStore(tmp_path / "data.duckdb")
    try:
        store.con.execute(
            f"CREATE TABLE {TABLE} AS SELECT 'fit' AS fit, * FROM "
            "(VALUES ('gone', 0.5, 3.0), ('kept', 0.2, 1.0)) t(profile_id, u0, x0)"
        )
        purge_profiles(store, ["gone"])
        rows = store.con.execute(f"SELECT profile_id FROM {TABLE}").fetchall()
    finally:
        store.close()
    assert rows == [("kept",)]
