"""`run_models`: features -> lifetime value -> propensity/churn -> segments -> holdouts -> drift.

The runner calls this once per run with the data store connection and the state the previous
run returned; everything here is deterministic for the same data, settings and state.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

import duckdb
import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict
from threadpoolctl import threadpool_limits

from connector.modelling.catalogue import assign_tiers, rule_entries, tier_entries, version_entries
from connector.modelling.clusters import ClusterResult, fit_clusters
from connector.modelling.drift import distribution, drift_report
from connector.modelling.features import (
    compute_features,
    feature_columns,
    materialise_baskets,
    materialise_items,
    top_categories,
)
from connector.modelling.holdout import holdout_mask, profile_hashes, stable_unit
from connector.modelling.lifetime import LifetimeModel, fit_lifetime, score_lifetime
from connector.modelling.propensity import (
    BTYD_FEATURES,
    PurchaseClassifier,
    backtest_hgb_share,
    purchased_between,
    train_purchase_classifier,
)
from connector.modelling.settings import ModelSettings

log = logging.getLogger(__name__)
STATE_VERSION = 1
_THREADED_ABOVE = 100_000
_ITEMS = "_model_items"
_BASKETS = "_model_baskets"


class _Parsed(NamedTuple):
    """Temp tables of product lists parsed once per run (None: parse inline / not needed)."""

    items: str | None
    baskets: str | None


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


def _profile_traits(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Profile columns usable in rule expressions: everything except consent fields."""
    cols = [r[0] for r in con.execute("DESCRIBE profiles").fetchall()]
    keep = [c for c in cols if not c.lower().startswith("consent") and c != "created_at"]
    rel = con.sql(f"SELECT {', '.join(chr(34) + c + chr(34) for c in keep)} FROM profiles")
    frame = rel.df() if rel is not None else pd.DataFrame(columns=["profile_id"])
    frame["profile_id"] = frame["profile_id"].astype(str)
    out: pd.DataFrame = frame.drop_duplicates("profile_id")
    return out


def _training_frame(
    con: duckdb.DuckDBPyConnection,
    cutoff: datetime,
    cats: list[str],
    settings: ModelSettings,
    parsed: _Parsed | None = None,
) -> pd.DataFrame:
    feats = compute_features(
        con,
        cutoff,
        categories=cats,
        half_life_days=settings.engagement_half_life_days,
        items_table=parsed.items if parsed else None,
        baskets_table=parsed.baskets if parsed else None,
    )
    model = fit_lifetime(feats)  # on every buyer: the BTYD parameters need the whole base
    # Classifier training uses at most max_training_rows profiles (the same deterministic
    # sample train_purchase_classifier would draw), so only those are scored.
    share = settings.max_training_rows / max(len(feats), 1)
    if share < 1:
        keep = stable_unit(feats["profile_id"].tolist(), f"train-split-{settings.random_seed}")
        feats = feats[keep < share].reset_index(drop=True)
    lt = score_lifetime(model, feats, settings)
    return pd.concat([feats, lt], axis=1)


def _train(
    con: duckdb.DuckDBPyConnection,
    *,
    as_of: datetime,
    horizon: int,
    cats: list[str],
    settings: ModelSettings,
    name: str,
    cache: dict[datetime, pd.DataFrame],
    parsed: _Parsed,
    timings: dict[str, float],
) -> PurchaseClassifier:
    """Train on features as of T - H with labels from [T - H, T); the blend is chosen by the
    same fit one horizon earlier (T - 2H, labels [T - 2H, T - H)) scored on T - H."""
    cutoff = as_of - timedelta(days=horizon)
    earlier_cut = cutoff - timedelta(days=horizon)
    started = time.perf_counter()
    for cut in (cutoff, earlier_cut):
        if cut not in cache:
            cache[cut] = _training_frame(con, cut, cats, settings, parsed)
    timings[f"{name}: training frames"] = round(time.perf_counter() - started, 3)
    frame, earlier = cache[cutoff], cache[earlier_cut]
    labels = np.asarray(
        frame["profile_id"].isin(purchased_between(con, cutoff, as_of)), dtype=np.int_
    )
    earlier_labels = np.asarray(
        earlier["profile_id"].isin(purchased_between(con, earlier_cut, cutoff)), dtype=np.int_
    )
    columns = [
        *feature_columns(frame),
        *BTYD_FEATURES,
        *sorted(c for c in frame.columns if c.startswith("bg_p_purchase_")),
    ]
    started = time.perf_counter()
    blend = backtest_hgb_share(
        earlier, earlier_labels, frame, labels, columns=columns, settings=settings
    )
    timings[f"{name}: blend backtest"] = round(time.perf_counter() - started, 3)
    return train_purchase_classifier(
        frame,
        labels,
        columns=columns,
        horizon_days=horizon,
        cutoff=cutoff,
        settings=settings,
        name=name,
        blend=blend,
    )


def _classifiers(
    con: duckdb.DuckDBPyConnection,
    *,
    as_of: datetime,
    cats: list[str],
    settings: ModelSettings,
    parsed: _Parsed,
    timings: dict[str, float],
) -> tuple[PurchaseClassifier, PurchaseClassifier]:
    """Propensity (P(purchase within hp)) and churn (1 - P(purchase within hc)) models; the
    training frame is shared when both horizons are equal."""
    cache: dict[datetime, pd.DataFrame] = {}
    hp, hc = settings.propensity_horizon_days, settings.churn_horizon_days
    common = {
        "as_of": as_of,
        "cats": cats,
        "settings": settings,
        "cache": cache,
        "parsed": parsed,
        "timings": timings,
    }
    prop = _train(con, horizon=hp, name=f"purchase_propensity_{hp}d", **common)  # type: ignore[arg-type]
    churn = _train(con, horizon=hc, name=f"churn_{hc}d", **common)  # type: ignore[arg-type]
    churn.card["target"] = f"no purchase within {hc} days (churn_risk = 1 - P(purchase))"
    return prop, churn


def _scores_frame(frame: pd.DataFrame, p_col: str, as_of: datetime) -> pd.DataFrame:
    """The per-profile outputs pushed as traits."""
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


def _memberships(
    profile_ids: pd.Series,
    groups: list[tuple[str, np.ndarray[Any, Any]]],
    settings: ModelSettings,
) -> pd.DataFrame:
    """(profile_id, segment_id, holdout) rows; the holdout flag is the deterministic control."""
    hashes = profile_hashes(profile_ids, settings.holdout_salt)
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


def _model_version(as_of: datetime, settings: ModelSettings, lifetime: dict[str, Any]) -> str:
    blob = json.dumps([settings.model_dump(mode="json"), lifetime], sort_keys=True, default=str)
    return f"{as_of:%Y%m%d}-{hashlib.sha256(blob.encode()).hexdigest()[:10]}"


def _cards(
    classifier_cards: list[dict[str, Any]],
    *,
    lifetime: LifetimeModel,
    clustered: ClusterResult,
    feats: pd.DataFrame,
    settings: ModelSettings,
    as_of: datetime,
    version: str,
) -> list[dict[str, Any]]:
    """Model cards of one run: the classifiers', lifetime value and clustering."""
    trained_at = datetime.now(UTC).isoformat()
    lifetime_card = {
        "name": "lifetime_value",
        "method": "BG/NBD x Gamma-Gamma (maximum likelihood), monthly discounting",
        "parameters": lifetime.to_dict(),
        "dropout_detected": lifetime.bgnbd.dropout_detected,
        "horizon_days": settings.clv_horizon_days,
        "discount_rate_annual": settings.discount_rate_annual,
        "buyers": int((feats["orders"] > 0).sum()),
    }
    cluster_card = {
        "name": "clusters",
        "method": "k-means on log-scaled standardised behaviour",
        "k": clustered.k,
        "k_criterion": f"silhouette within [{settings.k_min}, {settings.k_max}], previous k "
        "kept unless beaten by 0.02",
        "silhouette": round(clustered.silhouette, 4),
    }
    cards = [*classifier_cards, lifetime_card, cluster_card]
    for card in cards:
        card.update({"version": version, "trained_at": trained_at, "as_of": as_of.isoformat()})
    return cards


def run_models(
    con: duckdb.DuckDBPyConnection,
    *,
    as_of: datetime,
    settings: ModelSettings,
    previous: ModelState | None,
) -> ModelResult:
    """Score and segment every profile known before `as_of` (naive UTC)."""
    n = con.execute("SELECT count(*) FROM profiles").fetchone()
    # OpenMP worker threads cost more than they save on small shops (and thrash on a busy
    # host); large stores get the default thread pool.
    small = n is not None and int(n[0]) < _THREADED_ABOVE
    try:
        parsed = _Parsed(
            materialise_items(con, as_of, _ITEMS) if settings.top_categories else None,
            materialise_baskets(con, as_of, _BASKETS),
        )
        with threadpool_limits(limits=1 if small else None):
            return _run(con, as_of=as_of, settings=settings, previous=previous, parsed=parsed)
    finally:
        for table in (_ITEMS, _BASKETS):
            con.execute(f"DROP TABLE IF EXISTS {table}")


def _run(
    con: duckdb.DuckDBPyConnection,
    *,
    as_of: datetime,
    settings: ModelSettings,
    previous: ModelState | None,
    parsed: _Parsed,
) -> ModelResult:
    timings: dict[str, float] = {}
    clock = time.perf_counter()

    def lap(stage: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        timings[stage] = round(now - clock, 3)
        clock = now

    longest = timedelta(days=max(settings.propensity_horizon_days, settings.churn_horizon_days))
    cats = top_categories(con, as_of - longest, settings.top_categories, parsed.items)
    feats = compute_features(
        con,
        as_of,
        categories=cats,
        half_life_days=settings.engagement_half_life_days,
        items_table=parsed.items,
        baskets_table=parsed.baskets,
    )
    lap("features")
    lifetime = fit_lifetime(feats)
    lt = score_lifetime(lifetime, feats, settings)
    frame = pd.concat([feats, lt], axis=1)
    lap("lifetime")
    prop, churn = _classifiers(
        con, as_of=as_of, cats=cats, settings=settings, parsed=parsed, timings=timings
    )
    hp = settings.propensity_horizon_days
    lap("classifiers")
    p_col = f"p_purchase_{hp}d"
    frame[p_col] = prop.predict(frame)
    frame["churn_risk"] = 1.0 - churn.predict(frame)
    tiers, cuts = assign_tiers(frame["clv"], settings)
    frame["clv_tier"] = tiers
    scores = _scores_frame(frame, p_col, as_of)
    lap("scores")
    prev_clusters = (
        {"clusters": previous.clusters, "next_id": previous.next_cluster_id} if previous else None
    )
    clustered = fit_clusters(frame, settings, prev_clusters)
    frame["cluster_id"] = clustered.segment_ids
    scores["cluster_id"] = clustered.segment_ids
    lap("clusters")
    rules, rule_masks, rule_failures = rule_entries(
        frame.merge(_profile_traits(con), on="profile_id", how="left", suffixes=("", "_p")),
        settings,
    )
    cluster_entries = [
        {
            "id": c["id"],
            "name": c["name"],
            "kind": "cluster",
            "description": c["description"],
            "definition": {"centroid": c["centroid"], "zscores": c["zscores"]},
            "size": c["size"],
        }
        for c in sorted(clustered.clusters, key=lambda c: c["id"])
    ]
    version = _model_version(as_of, settings, lifetime.to_dict())
    entries = version_entries(
        cluster_entries + tier_entries(tiers, cuts) + rules,
        list(previous.catalogue) if previous else [],
        as_of=as_of,
        model_version=version,
    )
    groups: list[tuple[str, np.ndarray[Any, Any]]] = [
        (c["id"], clustered.segment_ids == c["id"]) for c in clustered.clusters
    ]
    groups += [(f"tier-{t}", (tiers == t).to_numpy()) for t in ("low", "medium", "high")]
    groups += list(rule_masks.items())
    memberships = _memberships(frame["profile_id"], groups, settings)
    lap("segments")
    score_cols = ["expected_purchases", p_col, "churn_risk", "clv"]
    drift_cols = feature_columns(feats) + score_cols
    sizes = {e["id"]: int(e["size"]) for e in entries}
    drift = drift_report(
        dict(previous.distributions) if previous else {},
        frame,
        score_columns=score_cols,
        previous_sizes=dict(previous.segment_sizes) if previous else {},
        current_sizes=sizes,
        settings=settings,
    )
    state = ModelState(
        as_of=as_of.isoformat(),
        clusters=[
            {"id": c["id"], "name": c["name"], "centroid": c["centroid"]}
            for c in clustered.clusters
        ],
        next_cluster_id=clustered.next_id,
        scaler=clustered.scaler,
        catalogue=entries,
        distributions={c: distribution(frame[c]) for c in drift_cols},
        segment_sizes=sizes,
    )
    lap("drift")
    cards = _cards(
        [prop.card, churn.card],
        lifetime=lifetime,
        clustered=clustered,
        feats=feats,
        settings=settings,
        as_of=as_of,
        version=version,
    )
    return ModelResult(
        feats,
        scores.reset_index(drop=True),
        entries,
        memberships,
        cards,
        drift,
        state,
        timings,
        rule_failures,
    )
