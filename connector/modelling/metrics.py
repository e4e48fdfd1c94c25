"""Classifier quality figures for model cards (numbers a marketer can check)."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score


def card_metrics(y: npt.ArrayLike, p: npt.ArrayLike, bins: int = 10) -> dict[str, Any]:
    """AUC, PR-AUC, Brier, top-decile lift and a calibration table (equal-count bins by the
    predicted probability). AUC and PR-AUC are None when only one class is present."""
    ya = np.asarray(y, dtype=int)
    pa = np.clip(np.asarray(p, dtype=float), 0.0, 1.0)
    n = len(ya)
    pos = int(ya.sum())
    both = 0 < pos < n
    base = pos / n if n else 0.0
    order = np.argsort(-pa, kind="stable")
    top = order[: max(n // 10, 1)] if n else order
    lift = float(ya[top].mean() / base) if n and base > 0 else None
    table = []
    if n:
        for chunk in np.array_split(np.argsort(pa, kind="stable"), min(bins, n)):
            if len(chunk):
                table.append(
                    {
                        "n": len(chunk),
                        "mean_predicted": round(float(pa[chunk].mean()), 4),
                        "observed_rate": round(float(ya[chunk].mean()), 4),
                    }
                )
    return {
        "auc": round(float(roc_auc_score(ya, pa)), 4) if both else None,
        "pr_auc": round(float(average_precision_score(ya, pa)), 4) if both else None,
        "brier": round(float(brier_score_loss(ya, pa)), 4) if n else None,
        "top_decile_lift": round(lift, 3) if lift is not None else None,
        "base_rate": round(base, 4),
        "positives": pos,
        "negatives": n - pos,
        "calibration": table,
    }
