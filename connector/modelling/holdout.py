"""Deterministic control groups and the lift report that reads them back.

A profile is in a segment's control group when a hash of (its model key, segment id, salt)
falls below the configured share: no state to store, the same answer on every run and machine
(the model key comes from the data, not the workspace's salted profile id: see
`connector.modelling.keys`), and independent across segments (a profile is not in every control
group at once).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable
from datetime import datetime
from typing import Any

import duckdb
import numpy as np
import numpy.typing as npt
import pandas as pd


def _blake64(keys: Iterable[str], salt: str) -> npt.NDArray[np.uint64]:
    """64-bit blake2b of each (salt, key), big-endian (stable across processes, unlike
    Python's salted `hash`); the digests are joined and read by numpy in one go, not turned
    into a Python int each."""
    prefix = salt.encode() + b"\x1f"
    blake = hashlib.blake2b
    digests = b"".join([blake(prefix + k.encode(), digest_size=8).digest() for k in keys])
    return np.frombuffer(digests, dtype=">u8").astype(np.uint64)


def stable_unit(keys: Iterable[str], salt: str) -> npt.NDArray[np.float64]:
    """Map each key to a uniform number in [0, 1) (`_blake64` over 2**64)."""
    return _blake64(keys, salt).astype(np.float64) / 2.0**64


def profile_hashes(profile_ids: Iterable[str], salt: str) -> npt.NDArray[np.uint64]:
    """64-bit blake2b of each (salt, profile_id), computed once per run."""
    return _blake64(profile_ids, salt)


def _mix64(z: npt.NDArray[np.uint64]) -> npt.NDArray[np.uint64]:
    """splitmix64 finaliser: a bijective avalanche so each segment gets independent bits."""
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def holdout_mask(
    hashes: npt.NDArray[np.uint64], segment_id: str, share: float
) -> npt.NDArray[np.bool_]:
    """True for profiles in the control group of `segment_id` (hash of profile, segment, salt
    below `share`)."""
    if share <= 0:
        return np.zeros(len(hashes), dtype=bool)
    seg = int.from_bytes(hashlib.blake2b(segment_id.encode(), digest_size=8).digest(), "big")
    with np.errstate(over="ignore"):
        mixed = _mix64(hashes ^ np.uint64(seg))
    out: npt.NDArray[np.bool_] = (mixed >> np.uint64(11)).astype(np.float64) / 2.0**53 < share
    return out


def in_holdout(
    profile_ids: Iterable[str], segment_id: str, *, share: float, salt: str
) -> npt.NDArray[np.bool_]:
    """True for profiles kept as the untreated control of `segment_id`."""
    return holdout_mask(profile_hashes(profile_ids, salt), segment_id, share)


def _mean_ci(values: npt.NDArray[np.float64]) -> tuple[float, float]:
    n = len(values)
    if n == 0:
        return 0.0, 0.0
    return float(values.mean()), float(values.std(ddof=1) / math.sqrt(n)) if n > 1 else 0.0


def segment_lift(
    con: duckdb.DuckDBPyConnection,
    memberships: pd.DataFrame,
    segment_id: str,
    *,
    activated_at: datetime,
    until: datetime,
    z: float = 1.96,
) -> dict[str, Any]:
    """Treated vs control after activation: conversion rate and revenue per profile over
    [activated_at, until), with the difference and a normal-approximation confidence interval.

    `memberships` has (profile_id, segment_id, holdout) as recorded at activation."""
    members = memberships.loc[
        memberships["segment_id"] == segment_id, ["profile_id", "holdout"]
    ].drop_duplicates("profile_id")
    con.register("_lift_members", members)
    try:
        rel = con.sql(
            """SELECT m.profile_id, m.holdout,
                      count(e.event_id) > 0 AS converted,
                      coalesce(sum(e.revenue), 0) AS revenue
               FROM _lift_members m LEFT JOIN events e
                 ON e.profile_id = m.profile_id AND e.type = 'order_completed'
                AND e.occurred_at >= $1 AND e.occurred_at < $2
               GROUP BY m.profile_id, m.holdout""",
            params=[activated_at, until],
        )
        frame = rel.df() if rel is not None else pd.DataFrame()
    finally:
        con.unregister("_lift_members")
    groups: dict[str, dict[str, float]] = {}
    stats: dict[str, dict[str, tuple[float, float]]] = {}
    for name, is_control in (("treated", False), ("control", True)):
        part = frame[frame["holdout"] == is_control] if len(frame) else frame
        conv = part["converted"].to_numpy(dtype=float) if len(part) else np.zeros(0)
        rev = part["revenue"].to_numpy(dtype=float) if len(part) else np.zeros(0)
        stats[name] = {"conversion": _mean_ci(conv), "revenue": _mean_ci(rev)}
        groups[name] = {
            "profiles": len(part),
            "conversion_rate": round(stats[name]["conversion"][0], 6),
            "revenue_per_profile": round(stats[name]["revenue"][0], 4),
        }
    lift: dict[str, Any] = {}
    for metric in ("conversion", "revenue"):
        (mt, st), (mc, sc) = stats["treated"][metric], stats["control"][metric]
        diff = mt - mc
        half = z * math.sqrt(st**2 + sc**2)
        lift[metric] = {
            "difference": round(diff, 6),
            "ci_low": round(diff - half, 6),
            "ci_high": round(diff + half, 6),
            "relative": round(diff / mc, 4) if mc else None,
        }
    return {
        "segment_id": segment_id,
        "window": [activated_at.isoformat(), until.isoformat()],
        "treated": groups["treated"],
        "control": groups["control"],
        "lift": lift,
        "confidence": 0.95 if z == 1.96 else None,
    }
