"""Drift between runs: population stability index (PSI) per feature and score, and segment
size change. The previous run's decile edges and shares live in the model state, so a run only
needs its own data plus that small summary."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from connector.modelling.settings import ModelSettings

_EPS = 1e-4
_BINS = 10


def distribution(values: pd.Series) -> dict[str, list[float]]:
    """Decile edges of the non-missing values and the share in each bin (+ a missing bin)."""
    arr = values.to_numpy(dtype=float)
    finite = arr[np.isfinite(arr)]
    edges: list[float] = (
        [float(e) for e in np.unique(np.quantile(finite, np.linspace(0, 1, _BINS + 1))[1:-1])]
        if len(finite)
        else []
    )
    return {"edges": edges, "shares": _shares(arr, edges)}


def _shares(arr: np.ndarray[Any, Any], edges: list[float]) -> list[float]:
    n = max(len(arr), 1)
    finite = np.isfinite(arr)
    idx = np.searchsorted(np.asarray(edges, dtype=float), arr[finite], side="right")
    counts = np.bincount(idx, minlength=len(edges) + 1).astype(float)
    return [float(c / n) for c in counts] + [float((~finite).sum() / n)]


def psi(previous: dict[str, list[float]], values: pd.Series) -> float:
    """PSI of `values` against a stored `distribution` (binned on the previous edges)."""
    expected = np.asarray(previous["shares"], dtype=float)
    actual = np.asarray(_shares(values.to_numpy(dtype=float), previous["edges"]), dtype=float)
    e, a = np.maximum(expected, _EPS), np.maximum(actual, _EPS)
    return float(np.sum((a - e) * np.log(a / e)))


def drift_report(
    previous_dists: dict[str, dict[str, list[float]]],
    current: pd.DataFrame,
    *,
    score_columns: list[str],
    previous_sizes: dict[str, int],
    current_sizes: dict[str, int],
    settings: ModelSettings,
) -> dict[str, Any]:
    """JSON-able report: status ok | warn | hold, whether activation is held, and why."""
    report: dict[str, Any] = {"features": {}, "scores": {}, "segments": {}, "reasons": []}
    major = False
    for col, dist in sorted(previous_dists.items()):
        if col not in current.columns:
            continue
        value = round(psi(dist, current[col]), 4)
        report["scores" if col in score_columns else "features"][col] = value
        if value > settings.psi_hold:
            major = True
            report["reasons"].append(f"PSI of {col} is {value} (> {settings.psi_hold})")
        elif value > settings.psi_warn:
            report["reasons"].append(f"PSI of {col} is {value} (> {settings.psi_warn})")
    for seg, before in sorted(previous_sizes.items()):
        after = current_sizes.get(seg, 0)
        change = (after - before) / max(before, 1)
        report["segments"][seg] = {"previous": before, "current": after, "change": round(change, 4)}
        if abs(change) > settings.segment_size_change_hold:
            major = True
            report["reasons"].append(f"segment {seg} size changed by {change:+.0%}")
        elif abs(change) > settings.segment_size_change_warn:
            report["reasons"].append(f"segment {seg} size changed by {change:+.0%}")
    hold = major and settings.hold_on_drift
    report["status"] = "hold" if hold else ("warn" if report["reasons"] else "ok")
    report["hold_activation"] = hold
    report["compared_with_previous"] = bool(previous_dists or previous_sizes)
    return report
