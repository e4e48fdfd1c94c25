"""The full engine (``[model] engine = "full"``): its named stages composed in order.

features → lifetime value → propensity/churn classifiers → scores → clusters → segments (with
holdouts) → drift → model cards; each stage is a function in `connector.modelling.stages` (the
classifiers in `connector.modelling.training`) from typed inputs to a frozen output. The runner
calls `run_models` once per run with the data store and the state the previous run returned;
everything here is deterministic for the same data, settings and state.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import duckdb
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field
from threadpoolctl import threadpool_limits

from connector.modelling.backend import DuckBackend, ModelBackend
from connector.modelling.catalogue import previous_cuts
from connector.modelling.keys import MODEL_KEY
from connector.modelling.reuse import reusable_lifetime, store_basis, with_anchors
from connector.modelling.settings import ModelSettings
from connector.modelling.stages import (
    Clusters,
    Drift,
    ModelRun,
    ParsedProducts,
    Segments,
    clusters_stage,
    drift_stage,
    features_stage,
    lifetime_stage,
    model_cards,
    scores_stage,
    segments_stage,
)
from connector.modelling.sufficiency import assess_sufficiency
from connector.modelling.training import classifiers_stage

__all__ = ["ModelResult", "ModelState", "run_models"]

log = logging.getLogger(__name__)
STATE_VERSION = 1
_THREADED_ABOVE = 100_000


class ModelState(BaseModel):
    """What one run hands the next: cluster centroids and ids, the catalogue, and the
    distributions drift is measured against. JSON via `model_dump_json` / `model_validate_json`."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    version: int = STATE_VERSION
    as_of: str
    clusters: list[dict[str, Any]]
    next_cluster_id: int
    scaler: dict[str, list[float]]
    catalogue: list[dict[str, Any]]
    distributions: dict[str, dict[str, list[float]]]
    segment_sizes: dict[str, int]
    # the fitted classifiers and lifetime model as numbers, reused on the same day while the
    # store changed little (connector.modelling.reuse)
    fitted: dict[str, Any] = Field(default_factory=dict)


@dataclass
class ModelResult:
    """Everything a run produces; see the module docstring of each part for semantics."""

    features: pd.DataFrame
    scores: pd.DataFrame
    segments: list[dict[str, Any]]
    memberships: pd.DataFrame
    model_cards: list[dict[str, Any]]
    drift: dict[str, Any]
    state: ModelState
    timings: dict[str, float] = field(default_factory=dict)
    rule_failures: dict[str, str] = field(default_factory=dict)  # segment id → why (held)
    sufficiency: dict[str, Any] = field(default_factory=dict)  # see connector.modelling.sufficiency


def run_models(
    con: duckdb.DuckDBPyConnection,
    *,
    as_of: datetime,
    settings: ModelSettings,
    previous: ModelState | None,
    backend: ModelBackend | None = None,
) -> ModelResult:
    """Score and segment every profile known before `as_of` (naive UTC); features and scoring
    run on `backend` (default: this DuckDB store)."""
    backend = backend or DuckBackend()
    n = con.execute("SELECT count(*) FROM profiles").fetchone()
    # OpenMP worker threads cost more than they save on small shops (and thrash on a busy
    # host); large stores get the default thread pool.
    small = n is not None and int(n[0]) < _THREADED_ABOVE
    try:
        parsed = ParsedProducts(
            *backend.parse_products(con, as_of, items=bool(settings.top_categories))
        )
        with threadpool_limits(limits=1 if small else None):
            return _run(ModelRun(con, as_of, settings, parsed, backend), previous)
    finally:
        backend.drop_parsed(con)


class _Laps:
    """Seconds per stage, in the order the stages ran (the run record shows them)."""

    def __init__(self) -> None:
        self.timings: dict[str, float] = {}
        self._clock = time.perf_counter()

    def lap(self, stage: str) -> None:
        now = time.perf_counter()
        self.timings[stage] = round(now - self._clock, 3)
        self._clock = now


def _run(run: ModelRun, previous: ModelState | None) -> ModelResult:
    laps = _Laps()
    features = features_stage(run)
    laps.lap("features")
    fitted = previous.fitted if previous else None
    basis = store_basis(run)
    lifetime = lifetime_stage(run, features, reusable_lifetime(run, fitted, basis))
    laps.lap("lifetime")
    classifiers = classifiers_stage(run, features, fitted, basis)
    laps.timings.update(classifiers.timings)
    laps.lap("classifiers")
    sufficiency = assess_sufficiency(run.con, run.as_of, features.table, run.settings)
    cuts = previous_cuts(previous.catalogue) if previous and lifetime.reused else None
    scores = scores_stage(run, lifetime, classifiers, cuts)
    laps.lap("scores")
    prev_clusters = (
        {
            "clusters": previous.clusters,
            "next_id": previous.next_cluster_id,
            "scaler": previous.scaler,
        }
        if previous
        else None
    )
    clusters = clusters_stage(run, scores, prev_clusters, reuse=lifetime.reused)
    laps.lap("clusters")
    segments = segments_stage(
        run,
        lifetime=lifetime,
        scores=scores,
        clusters=clusters,
        previous_catalogue=list(previous.catalogue) if previous else [],
    )
    laps.lap("segments")
    drift = drift_stage(
        run,
        features=features,
        scores=scores,
        clusters=clusters,
        segments=segments,
        previous_distributions=previous.distributions if previous else {},
        previous_sizes=previous.segment_sizes if previous else {},
    )
    kept = dict(classifiers.frozen)
    if kept:  # the lifetime model and the anchors are kept with the classifiers
        kept = with_anchors(kept, (classifiers.propensity, classifiers.churn))
        kept["lifetime"] = lifetime.model.to_dict()
    state = _next_state(run, clusters, segments, drift, kept)
    laps.lap("drift")
    cards = model_cards(
        run,
        features=features,
        lifetime=lifetime,
        classifiers=classifiers,
        clusters=clusters,
        model_version=segments.model_version,
    )
    for card in cards[:3]:  # the predictive ones: propensity, churn, lifetime value
        card["sufficiency"] = sufficiency
    return ModelResult(
        features.table.drop(columns=[MODEL_KEY]),
        clusters.table.reset_index(drop=True),
        segments.catalogue,
        segments.memberships,
        cards,
        drift.report,
        state,
        laps.timings,
        segments.rule_failures,
        sufficiency,
    )


def _next_state(
    run: ModelRun,
    clusters: Clusters,
    segments: Segments,
    drift: Drift,
    frozen: dict[str, Any],
) -> ModelState:
    """What the next run starts from: cluster ids and centroids, the catalogue, distributions."""
    fit = clusters.fit
    return ModelState(
        as_of=run.as_of.isoformat(),
        clusters=[
            {"id": c["id"], "name": c["name"], "centroid": c["centroid"]} for c in fit.clusters
        ],
        next_cluster_id=fit.next_id,
        scaler=fit.scaler,
        catalogue=segments.catalogue,
        distributions=drift.distributions,
        segment_sizes=drift.segment_sizes,
        fitted=frozen,
    )
