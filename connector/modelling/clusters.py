"""Behavioural clusters with ids that survive retraining, and names a marketer can read.

k-means on log-scaled, standardised behaviour columns. k is chosen by the silhouette score on a
deterministic sample, within [k_min, k_max]; when a previous solution exists its k is kept unless
another k is better by a clear margin, and the previous centroids seed k-means, so a re-run on
nearly the same data lands on nearly the same partition. New centroids are matched to the
previous catalogue by the Hungarian algorithm on scaled centroid distance: a match inherits the
old id (ids never permute), an unmatched or distant cluster gets a fresh id.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy.optimize import linear_sum_assignment
from sklearn.cluster import KMeans
from sklearn.metrics import silhouette_score

from connector.modelling.holdout import stable_unit
from connector.modelling.keys import row_keys
from connector.modelling.naming import NAMING_COLUMNS, describe_cluster, name_cluster
from connector.modelling.settings import ModelSettings

# Observed behaviour only: model outputs (churn_risk, clv) move for everyone on each retrain,
# which would shuffle profiles between clusters although their behaviour did not change.
CLUSTER_FEATURES = (
    "recency_days",
    "orders",
    "aov",
    "revenue_365d",
    "engagement",
    "tenure_days",
)
_K_MARGIN = 0.02  # silhouette gain needed to leave the previous k
# Rows a silhouette is computed on: its cost is quadratic in them. A reused run's card figure on
# 5,000 rows took 1.6 s under cProfile (the scale test's 6,000 profiles), more than the rest of
# its model stage; on the same data 3,000 rows moved it by 0.0015 (0.1014 -> 0.1029).
_SILHOUETTE_ROWS = 3_000
_MIN_MEMBERS = 25  # a cluster needs about this many profiles: a tiny shop gets fewer clusters


@dataclass
class ClusterResult:
    """Labels (segment ids per row) and one catalogue-ready dict per cluster."""

    segment_ids: npt.NDArray[np.object_]
    clusters: list[dict[str, Any]]
    scaler: dict[str, list[float]]
    k: int
    silhouette: float
    next_id: int


def cluster_matrix(frame: pd.DataFrame) -> pd.DataFrame:
    """Behaviour columns on a log scale; never-ordered profiles count as maximally lapsed."""
    eng = frame[[c for c in frame.columns if c.startswith("eng_")]].sum(axis=1)
    cols = frame.assign(engagement=eng)
    recency = cols["recency_days"].fillna(cols["tenure_days"]).fillna(0.0)
    out = pd.DataFrame(index=frame.index)
    for name in CLUSTER_FEATURES:
        values = recency if name == "recency_days" else cols[name].fillna(0.0)
        out[name] = np.log1p(values.clip(lower=0.0))
    return out


def _distinct(z: npt.NDArray[np.float64]) -> int:
    return len(np.unique(np.round(z, 9), axis=0)) if len(z) else 0


def max_clusters(z: npt.NDArray[np.float64]) -> int:
    """The most clusters the data can hold: never more than its distinct rows, and about
    `_MIN_MEMBERS` profiles per cluster (5 profiles once got 4 clusters)."""
    return max(1, min(_distinct(z), len(z) // _MIN_MEMBERS))


def _choose_k(
    z: npt.NDArray[np.float64],
    settings: ModelSettings,
    previous_k: int | None,
    seed: int,
    cap: int,
) -> tuple[int, float]:
    scores: dict[int, float] = {}
    n = len(z)
    cap = min(cap, _distinct(z))
    if cap < settings.k_min:  # too little data for the configured range
        return max(cap, 1), 0.0
    for k in range(settings.k_min, min(settings.k_max, cap, max(n - 1, 2)) + 1):
        if k >= n:
            break
        labels = KMeans(k, n_init=2, random_state=seed).fit_predict(z)
        if len(set(labels)) < 2:
            continue
        scores[k] = float(
            silhouette_score(z, labels, sample_size=min(n, _SILHOUETTE_ROWS), random_state=seed)
        )
    if not scores:
        return min(settings.k_min, max(n, 1)), 0.0
    best = max(scores, key=lambda k: (scores[k], -k))
    if previous_k in scores and scores[best] - scores[previous_k] < _K_MARGIN:
        best = previous_k
    return best, scores[best]


def _standardised(
    frame: pd.DataFrame,
) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    raw = cluster_matrix(frame)
    mean = raw.mean().to_numpy()
    std = raw.std(ddof=0).replace(0, 1.0).to_numpy()
    return mean, std, ((raw.to_numpy() - mean) / std).astype(float)


def _canonical_order(z: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    """k-means++ seeding depends on row order, and rows come in profile-id order, which differs
    between workspaces (ids are salted). Order rows by a pseudo-random key derived from their
    values (ties by the values), so the same customers give the same clusters anywhere; a plain
    sort would put look-alike rows together and bias the seeding."""
    rounded = np.round(z, 9)
    key = np.sin((rounded @ np.linspace(1.0, 2.0, z.shape[1])) * 1e4) if z.size else z[:, 0]
    return np.lexsort((*rounded.T[::-1], key))


def assign_clusters(
    frame: pd.DataFrame, settings: ModelSettings, previous: dict[str, Any]
) -> ClusterResult:
    """Each row to the nearest of the previous run's centroids, in that run's scaled space.

    For a run that reuses the last fit (`connector.modelling.reuse`): a refit on a store where
    1 % changed re-standardises every column and moves every centroid, and on the scale
    benchmark's data (four orders for everyone, then a fifth for 1 %) a nearly constant
    column's spread grew from nothing, which re-drew the clusters for most profiles. Kept
    centroids and scaler leave an unchanged profile in its cluster."""
    prev = list(previous["clusters"])
    mean = np.asarray(previous["scaler"]["mean"], dtype=float)
    std = np.asarray(previous["scaler"]["std"], dtype=float)
    z = ((cluster_matrix(frame).to_numpy() - mean) / std).astype(float)
    raw = np.array([[c["centroid"][f] for f in CLUSTER_FEATURES] for c in prev])
    centers = (raw - mean) / std
    labels = np.linalg.norm(z[:, None, :] - centers[None, :, :], axis=2).argmin(axis=1)
    clusters = [{"id": c["id"], "inherited": True, "name": c.get("name")} for c in prev]
    seg_ids = _name_and_describe(clusters, labels, raw, centers, frame, settings)
    unit = stable_unit(row_keys(frame), f"cluster-sample-{settings.random_seed}")
    sample = unit < min(settings.cluster_sample_size, _SILHOUETTE_ROWS) / len(frame)
    sil = 0.0
    if len(set(labels[sample].tolist())) > 1:
        sil = float(silhouette_score(z[sample], labels[sample], random_state=settings.random_seed))
    scaler = {"mean": mean.tolist(), "std": std.tolist()}
    return ClusterResult(seg_ids, clusters, scaler, len(prev), sil, int(previous["next_id"]))


def fit_clusters(
    frame: pd.DataFrame,
    settings: ModelSettings,
    previous: dict[str, Any] | None,
    *,
    reuse: bool = False,
) -> ClusterResult:
    """Cluster all rows of a scored feature frame; `previous` is the state from the last run
    ({"scaler", "clusters": [{"id", "name", "centroid", ...}], "next_id"}); with `reuse`, rows
    are assigned to its centroids instead (`assign_clusters`)."""
    if frame.empty:  # nobody before the cutoff: no clusters (and no division by zero)
        return ClusterResult(np.empty(0, dtype=object), [], {"mean": [], "std": []}, 0, 0.0,
                             int(previous.get("next_id", 1)) if previous else 1)  # fmt: skip
    if reuse and previous and previous.get("clusters") and previous.get("scaler"):
        return assign_clusters(frame, settings, previous)
    mean, std, z = _standardised(frame)
    seed = settings.random_seed
    ids = row_keys(frame)
    sample = stable_unit(ids, f"cluster-sample-{seed}") < settings.cluster_sample_size / len(ids)
    order = _canonical_order(z)
    z, sample = z[order], sample[order]
    prev_clusters = list(previous["clusters"]) if previous else []
    prev_k = len(prev_clusters) or None
    cap = max_clusters(z)
    k, sil = _choose_k(z[sample] if sample.sum() > 50 else z, settings, prev_k, seed, cap)
    k = min(k, cap)
    prev_raw = np.array([[c["centroid"][f] for f in CLUSTER_FEATURES] for c in prev_clusters])
    if prev_k == k and k > 0:
        init: Any = (prev_raw - mean) / std
        km = KMeans(k, init=init, n_init=1, random_state=seed).fit(z)
    elif len(z) > 4 * settings.cluster_sample_size and sample.sum() >= k:
        # Large base: seed from the best of several k-means on the sample, then one pass on
        # everyone (n_init restarts on a million rows cost more than they change).
        seeds = KMeans(k, n_init=4, random_state=seed).fit(z[sample]).cluster_centers_
        km = KMeans(k, init=seeds, n_init=1, random_state=seed).fit(z)
    else:
        km = KMeans(k, n_init=4, random_state=seed).fit(z)
    centers = km.cluster_centers_
    labels = np.empty_like(km.labels_)
    labels[order] = km.labels_
    # Match to previous centroids in today's scaled space.
    assigned: dict[int, dict[str, Any]] = {}
    if prev_clusters:
        prev_z = (prev_raw - mean) / std
        dist = np.linalg.norm(centers[:, None, :] - prev_z[None, :, :], axis=2)
        rows, cols = linear_sum_assignment(dist)
        for r, c in zip(rows, cols, strict=True):
            if dist[r, c] <= settings.cluster_match_max_distance:
                assigned[int(r)] = prev_clusters[int(c)]
    next_id = int(previous.get("next_id", 1)) if previous else 1
    # New clusters get ids in a deterministic order (by centroid), never reusing old ids.
    unmatched = sorted((i for i in range(k) if i not in assigned), key=lambda i: tuple(centers[i]))
    clusters: list[dict[str, Any]] = [{} for _ in range(k)]
    for i in unmatched:
        clusters[i] = {"id": f"cluster-{next_id}", "inherited": False}
        next_id += 1
    for i, prev in assigned.items():
        clusters[i] = {"id": prev["id"], "inherited": True, "name": prev.get("name")}
    seg_ids = _name_and_describe(clusters, labels, centers * std + mean, centers, frame, settings)
    scaler = {"mean": [float(v) for v in mean], "std": [float(v) for v in std]}
    return ClusterResult(seg_ids, clusters, scaler, k, sil, next_id)


def _name_and_describe(
    clusters: list[dict[str, Any]],
    labels: npt.NDArray[np.int_],
    centroids: npt.NDArray[np.float64],
    centers: npt.NDArray[np.float64],
    frame: pd.DataFrame,
    settings: ModelSettings,
) -> npt.NDArray[np.object_]:
    """Fill each cluster's centroid, size, name (kept when inherited) and description; return
    the segment id of every row."""
    seg_ids = np.empty(len(labels), dtype=object)
    used_names: set[str] = {str(c["name"]) for c in clusters if c.get("name")}
    # what naming reads: copying every column of each cluster's rows cost seconds at 1M
    frame = frame[list(NAMING_COLUMNS)]
    for i, info in enumerate(clusters):
        member = labels == i
        seg_ids[member] = info["id"]
        info["centroid"] = dict(zip(CLUSTER_FEATURES, map(float, centroids[i]), strict=True))
        info["zscores"] = dict(zip(CLUSTER_FEATURES, map(float, centers[i]), strict=True))
        info["size"] = int(member.sum())
        profile = frame.loc[member]
        if not info.get("name"):
            info["name"] = name_cluster(
                info["zscores"], profile, frame, used_names, settings.churn_horizon_days
            )
            used_names.add(info["name"])
        info["description"] = describe_cluster(
            info["zscores"], profile, frame, settings.churn_horizon_days
        )
    return seg_ids
