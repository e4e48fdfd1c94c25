"""The full engine's stages: frozen typed outputs, timed in order, composed by run_models."""

from __future__ import annotations

import dataclasses
from datetime import datetime

import duckdb
import pytest

from connector.modelling import stages
from connector.modelling.engine import run_models
from connector.modelling.settings import ModelSettings
from connector.modelling.training import classifiers_stage
from connector.testing.testdata import generate

AS_OF = datetime(2025, 1, 1)


@pytest.fixture(scope="module")
def store() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    generate(con, n_profiles=400, seed=7)
    return con


def test_stage_outputs_are_frozen_and_leave_their_inputs_alone(
    store: duckdb.DuckDBPyConnection,
) -> None:
    run = stages.ModelRun(store, AS_OF, ModelSettings(), stages.ParsedProducts(None, None))
    features = stages.features_stage(run)
    lifetime = stages.lifetime_stage(run, features)
    before = list(lifetime.frame.columns)
    scores = stages.scores_stage(run, lifetime, classifiers_stage(run, features))
    clusters = stages.clusters_stage(run, scores, None)
    assert list(lifetime.frame.columns) == before
    assert "cluster_id" not in scores.frame.columns
    assert "cluster_id" in clusters.frame.columns
    assert {scores.propensity_column, "churn_risk", "clv_tier"} <= set(scores.frame.columns)
    for output in (features, lifetime, scores, clusters):
        assert dataclasses.is_dataclass(output)
        with pytest.raises(dataclasses.FrozenInstanceError):
            setattr(output, dataclasses.fields(output)[0].name, None)


def test_run_models_times_each_stage_in_order(store: duckdb.DuckDBPyConnection) -> None:
    result = run_models(store, as_of=AS_OF, settings=ModelSettings(), previous=None)
    named = [k for k in result.timings if ":" not in k]
    assert named == [
        "features",
        "lifetime",
        "classifiers",
        "scores",
        "clusters",
        "segments",
        "drift",
    ]
