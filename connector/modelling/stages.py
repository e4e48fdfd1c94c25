"""The full engine's named stages, each a function from typed inputs to a typed output.

`connector.modelling.engine` composes them in order (features → lifetime → classifiers →
scores → clusters → segments → drift → cards), as the pipeline runner composes its stages.
Every output is a frozen dataclass that later stages read and never change: a stage that adds
columns returns a new frame (pandas copy-on-write keeps that cheap).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

import duckdb
import numpy as np
import pandas as pd

from connector.modelling.anchor import anchor_classifier
from connector.modelling.backend import DuckBackend, ModelBackend
from connector.modelling.catalogue import assign_tiers, rule_entries, tier_entries, version_entries
from connector.modelling.clusters import ClusterResult, fit_clusters
from connector.modelling.drift import distribution, drift_report
from connector.modelling.feature_cache import cached_features
from connector.modelling.features import feature_columns
from connector.modelling.holdout import holdout_mask, profile_hashes
from connector.modelling.keys import MODEL_KEY, row_keys, with_model_keys
from connector.modelling.lifetime import LifetimeModel, fit_lifetime, score_lifetime
from connector.modelling.propensity import PurchaseClassifier
from connector.modelling.score_cache import cached_uncalibrated
from connector.modelling.settings import ModelSettings

__all__ = [
    "Clusters",
    "Drift",
    "Features",
    "Lifetime",
    "ModelRun",
    "ParsedProducts",
    "Scores",
    "Segments",
    "clusters_stage",
    "drift_stage",
    "features_stage",
    "lifetime_stage",
    "model_cards",
    "scores_stage",
    "segments_stage",
]


@dataclass(frozen=True, slots=True)
class ParsedProducts:
    """Temp tables of product lists parsed once per run (None: parse inline / not needed)."""

    items: str | None
    baskets: str | None


@dataclass(frozen=True, slots=True)
class ModelRun:
    """What every stage reads: the data store, the cutoff (naive UTC), the settings."""

    con: duckdb.DuckDBPyConnection
    as_of: datetime
    settings: ModelSettings
    parsed: ParsedProducts
    backend: ModelBackend = field(default_factory=DuckBackend)


@dataclass(frozen=True, slots=True)
class Features:
    """One row per profile as of the cutoff; `categories` are the top product categories."""

    categories: tuple[str, ...]
    table: pd.DataFrame


@dataclass(frozen=True, slots=True)
class Lifetime:
    """The BG/NBD x Gamma-Gamma fit and `frame`: the features with lifetime scores added."""

    model: LifetimeModel
    frame: pd.DataFrame
    reused: bool = False


@dataclass(frozen=True, slots=True)
class Classifiers:
    """Both classifiers; `frozen` is what the next run may score with again
    (`connector.modelling.reuse`)."""

    propensity: PurchaseClassifier
    churn: PurchaseClassifier
    timings: Mapping[str, float]
    frozen: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Scores:
    """`frame` is the lifetime frame plus propensity, churn risk and CLV tier; `table` the
    per-profile outputs delivered as traits."""

    frame: pd.DataFrame
    table: pd.DataFrame
    propensity_column: str
    tiers: pd.Series
    tier_cuts: list[float]


@dataclass(frozen=True, slots=True)
class Clusters:
    """The clustering and the scores frame and table with each profile's `cluster_id`."""

    fit: ClusterResult
    frame: pd.DataFrame
    table: pd.DataFrame


@dataclass(frozen=True, slots=True)
class Segments:
    """The versioned segment catalogue, memberships with holdout flags, and failed rules."""

    catalogue: list[dict[str, Any]]
    memberships: pd.DataFrame
    rule_failures: dict[str, str]
    model_version: str


@dataclass(frozen=True, slots=True)
class Drift:
    """The drift report and what the next run measures drift against."""

    report: dict[str, Any]
    distributions: dict[str, dict[str, list[float]]]
    segment_sizes: dict[str, int]


def features_stage(run: ModelRun) -> Features:
    settings = run.settings
    longest = timedelta(days=max(settings.propensity_horizon_days, settings.churn_horizon_days))
    cats = run.backend.top_categories(run.con, run.as_of - longest, settings.top_categories,
                                      run.parsed.items)  # fmt: skip
    table = cached_features(  # only the changed profiles' rows at a kept cutoff
        run.backend, run.con, run.as_of, categories=cats,
        half_life_days=settings.engagement_half_life_days,
        items_table=run.parsed.items, baskets_table=run.parsed.baskets,
    )  # fmt: skip
    keyed = table if MODEL_KEY in table.columns else with_model_keys(run.con, table)
    return Features(tuple(cats), keyed)


def lifetime_stage(
    run: ModelRun, features: Features, reused: LifetimeModel | None = None
) -> Lifetime:
    """BG/NBD x Gamma-Gamma fitted on the buyers (or `reused`, the last run's fit) and scored."""
    model = reused or fit_lifetime(features.table)
    scored = run.backend.apply(
        features.table, partial(score_lifetime, model, settings=run.settings)
    )
    return Lifetime(model, pd.concat([features.table, scored], axis=1), reused is not None)


def scores_stage(
    run: ModelRun, lifetime: Lifetime, classifiers: Classifiers, cuts: list[float] | None = None
) -> Scores:
    """Propensity, churn risk and CLV tier (`cuts`: a reused fit's tier cut points)."""
    p_col = f"p_purchase_{run.settings.propensity_horizon_days}d"
    frame = lifetime.frame.copy(deep=False)
    named = {"propensity": classifiers.propensity, "churn": classifiers.churn}
    trained = {k: clf for k, clf in named.items() if clf.model is not None}
    raw = cached_uncalibrated(
        run.con, frame, trained, partial(run.backend.apply, scorer=partial(_raw, trained))
    )
    buyer, probability = frame["orders"].to_numpy() > 0, {}
    for key, clf in named.items():  # the model's pass once, for the anchor and the scores
        if key not in trained:
            probability[key] = clf.predict(frame)
            continue
        u = raw[key].to_numpy()
        if "reused" not in clf.card.get("calibration_anchor", {}):  # else kept with the fit
            anchor_classifier(clf, frame, converged=lifetime.model.bgnbd.converged, uncalibrated=u)
        probability[key] = clf.anchored(u, buyer)
    frame[p_col] = probability["propensity"]
    frame["churn_risk"] = 1.0 - probability["churn"]
    tiers, cuts = assign_tiers(frame["clv"], run.settings, cuts)
    frame["clv_tier"] = tiers
    return Scores(frame, _scores_table(frame, p_col, run.as_of), p_col, tiers, cuts)


def _raw(models: Mapping[str, PurchaseClassifier], frame: pd.DataFrame) -> pd.DataFrame:
    """Uncalibrated horizon probabilities of a batch of rows (row-wise: any batching agrees)."""
    return pd.DataFrame({k: clf.uncalibrated_horizon(frame) for k, clf in models.items()})


def _scores_table(frame: pd.DataFrame, p_col: str, as_of: datetime) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "profile_id": frame["profile_id"],
            "expected_purchases": frame["expected_purchases"],
            p_col: frame[p_col],
            "churn_risk": frame["churn_risk"],
            "predicted_orders": frame["expected_purchases"],
            "aov": frame["aov"],
            "expected_spend": frame["expected_spend"],
            "clv": frame["clv"],
            "clv_tier": frame["clv_tier"],
            "next_order_date": pd.Timestamp(as_of)
            + pd.to_timedelta(np.round(frame["days_to_next_order"] * 86400), unit="s"),
        }
    )


def clusters_stage(
    run: ModelRun, scores: Scores, previous: Mapping[str, Any] | None, *, reuse: bool = False
) -> Clusters:
    """`previous` is the last run's {"clusters", "next_id", "scaler"}; matched clusters keep
    their ids; with `reuse` (the last fit is reused) rows join its nearest centroid."""
    fit = fit_clusters(
        scores.frame, run.settings, dict(previous) if previous else None, reuse=reuse
    )
    frame = scores.frame.copy(deep=False)
    frame["cluster_id"] = fit.segment_ids
    table = scores.table.copy(deep=False)
    table["cluster_id"] = fit.segment_ids
    return Clusters(fit, frame, table)


def segments_stage(
    run: ModelRun,
    *,
    lifetime: Lifetime,
    scores: Scores,
    clusters: Clusters,
    previous_catalogue: list[dict[str, Any]],
) -> Segments:
    """Clusters, CLV tiers and rule segments into one catalogue, versioned against the last."""
    frame = clusters.frame
    rules_read = any(not r.realtime for r in run.settings.rule_segments)
    rules, rule_masks, rule_failures = rule_entries(
        _with_traits(run.con, frame) if rules_read else frame, run.settings
    )
    fit = clusters.fit
    cluster_entries = [
        {
            "id": c["id"],
            "name": c["name"],
            "kind": "cluster",
            "description": c["description"],
            "definition": {"centroid": c["centroid"], "zscores": c["zscores"]},
            "size": c["size"],
        }
        for c in sorted(fit.clusters, key=lambda c: c["id"])
    ]
    version = _model_version(run.as_of, run.settings, lifetime.model.to_dict())
    entries = version_entries(
        cluster_entries + tier_entries(scores.tiers, scores.tier_cuts) + rules,
        previous_catalogue,
        as_of=run.as_of,
        model_version=version,
    )
    groups: list[tuple[str, np.ndarray[Any, Any]]] = [
        (c["id"], fit.segment_ids == c["id"]) for c in fit.clusters
    ]
    groups += [(f"tier-{t}", (scores.tiers == t).to_numpy()) for t in ("low", "medium", "high")]
    groups += list(rule_masks.items())
    memberships = _memberships(frame["profile_id"], row_keys(frame), groups, run.settings)
    return Segments(entries, memberships, rule_failures, version)


def _with_traits(con: duckdb.DuckDBPyConnection, frame: pd.DataFrame) -> pd.DataFrame:
    """The scored frame with the profile columns rule expressions may use: all but consent
    fields (read only when a rule is evaluated here: a million profiles cost seconds)."""
    cols = [r[0] for r in con.execute("DESCRIBE profiles").fetchall()]
    keep = [c for c in cols if not c.lower().startswith("consent") and c != "created_at"]
    rel = con.sql(f"SELECT {', '.join(chr(34) + c + chr(34) for c in keep)} FROM profiles")
    traits = rel.df() if rel is not None else pd.DataFrame(columns=["profile_id"])
    traits["profile_id"] = traits["profile_id"].astype(str)
    return frame.drop(columns=[MODEL_KEY], errors="ignore").merge(
        traits.drop_duplicates("profile_id"), on="profile_id", how="left", suffixes=("", "_p")
    )


def _model_version(as_of: datetime, settings: ModelSettings, lifetime: dict[str, Any]) -> str:
    blob = json.dumps([settings.model_dump(mode="json"), lifetime], sort_keys=True, default=str)
    return f"{as_of:%Y%m%d}-{hashlib.sha256(blob.encode()).hexdigest()[:10]}"


def _memberships(
    profile_ids: pd.Series,
    keys: list[str],
    groups: list[tuple[str, np.ndarray[Any, Any]]],
    settings: ModelSettings,
) -> pd.DataFrame:
    """(profile_id, segment_id, holdout) rows; the holdout flag is the deterministic control,
    keyed on the data (`keys`), so a workspace rebuilt from the same sources keeps it."""
    hashes = profile_hashes(keys, settings.holdout_salt)
    ids = profile_ids.to_numpy()
    parts = [
        pd.DataFrame(
            {
                "profile_id": ids[mask],
                "segment_id": seg_id,
                "holdout": holdout_mask(hashes[mask], seg_id, settings.holdout_share),
            }
        )
        for seg_id, mask in groups
    ]
    if not parts:
        return pd.DataFrame({"profile_id": [], "segment_id": [], "holdout": []})
    return pd.concat(parts, ignore_index=True)


def drift_stage(
    run: ModelRun,
    *,
    features: Features,
    scores: Scores,
    clusters: Clusters,
    segments: Segments,
    previous_distributions: Mapping[str, dict[str, list[float]]],
    previous_sizes: Mapping[str, int],
) -> Drift:
    """Feature, score and segment-size drift against the last run (may hold activation)."""
    score_cols = ["expected_purchases", scores.propensity_column, "churn_risk", "clv"]
    drift_cols = feature_columns(features.table) + score_cols
    sizes = {e["id"]: int(e["size"]) for e in segments.catalogue}
    report = drift_report(
        dict(previous_distributions),
        clusters.frame,
        score_columns=score_cols,
        previous_sizes=dict(previous_sizes),
        current_sizes=sizes,
        settings=run.settings,
    )
    distributions = {c: distribution(clusters.frame[c]) for c in drift_cols}
    return Drift(report, distributions, sizes)


def _fit_status(model: LifetimeModel) -> dict[str, Any]:
    """Whether each fit converged; dropout is only claimed from a converged BG/NBD fit (with
    no repeat purchases there is nothing to fit and the parameters are placeholders)."""
    bg, gg = model.bgnbd, model.gamma_gamma
    status: dict[str, Any] = {
        "converged": {"bgnbd": bg.converged, "gamma_gamma": gg.converged},
        "dropout_detected": bg.dropout_detected if bg.converged else None,
    }
    if not bg.converged:
        status["fit_note"] = (
            "BG/NBD did not converge (no repeat purchases, or too few): its parameters are "
            "placeholders and expected purchases, CLV and next order dates are floors"
        )
    return status


def model_cards(
    run: ModelRun,
    *,
    features: Features,
    lifetime: Lifetime,
    classifiers: Classifiers,
    clusters: Clusters,
    model_version: str,
) -> list[dict[str, Any]]:
    """Model cards of one run: the classifiers', lifetime value and clustering."""
    settings, fit = run.settings, clusters.fit
    trained_at = datetime.now(UTC).isoformat()
    lifetime_card = {
        "name": "lifetime_value",
        "method": "BG/NBD x Gamma-Gamma (maximum likelihood), monthly discounting",
        "parameters": lifetime.model.to_dict(),
        **_fit_status(lifetime.model),
        "horizon_days": settings.clv_horizon_days,
        "discount_rate_annual": settings.discount_rate_annual,
        "buyers": int((features.table["orders"] > 0).sum()),
    }
    if lifetime.reused:  # and the clusters: rows joined that fit's nearest centroid
        lifetime_card["reused"] = "fitted by an earlier run on the same as_of and settings"
    cluster_card = {
        "name": "clusters",
        "method": "k-means on log-scaled standardised behaviour",
        "k": fit.k,
        "k_criterion": f"silhouette within [{settings.k_min}, {settings.k_max}], previous k "
        "kept unless beaten by 0.02",
        "silhouette": round(fit.silhouette, 4),
    }
    if lifetime.reused:
        cluster_card["reused"] = "centroids of an earlier run on the same as_of and settings"
    cards = [classifiers.propensity.card, classifiers.churn.card, lifetime_card, cluster_card]
    for card in cards:
        card.update(
            {"version": model_version, "trained_at": trained_at, "as_of": run.as_of.isoformat()}
        )
    return cards
