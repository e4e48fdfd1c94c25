"""Candidate model changes scored on the development protocols of `rolling_origin.py`.

Each candidate is the shipped engine with one knob moved (the classifier's BTYD columns, the
number of stacked training snapshots) and each is calibrated three ways (the shipped BG/NBD
anchor, the Platt level alone, half way between the two). One line per protocol is appended to
`results/rolling_origin_dev_candidates.jsonl`; the summary printed at the end is what a choice
is made on. Only the dev protocols: a candidate is never scored on a reported one.

    PYTHONPATH=$PWD python benchmarks/rolling_origin_candidates.py --only cdnow_sample
        [--cutoffs 2] [--horizons 45] [--candidates base feat]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

sys.path.insert(0, str(Path(__file__).resolve().parent))
import rolling_origin as ro
from connector.modelling import propensity, training
from connector.modelling.anchor import anchor_classifier, logit_shift_for_mean
from connector.modelling.features import materialise_baskets
from connector.modelling.settings import ModelSettings
from connector.modelling.stages import (
    ModelRun,
    ParsedProducts,
    features_stage,
    lifetime_stage,
)
from connector.testing.testdata import load_transactions

OUT = Path(__file__).resolve().parent / "results" / "rolling_origin_dev_candidates.jsonl"
OLD_COLUMNS = ("expected_purchases", "expected_spend", "clv", "days_to_next_order")
# P(alive), x / T and t_x / T, and E[purchases within H] (`connector.modelling.lifetime`)
NEW_COLUMNS = (*OLD_COLUMNS, "bg_p_alive", "repeat_rate", "recency_share")
NEW_PREFIXES = ("bg_p_purchase_", "bg_expected_")
CANDIDATES: dict[str, dict[str, Any]] = {
    "base": {"columns": OLD_COLUMNS, "prefixes": ("bg_p_purchase_",), "snapshots": 2},
    "feat": {
        "columns": NEW_COLUMNS,
        "prefixes": NEW_PREFIXES,
        "snapshots": 2,
    },
    "snap3": {"columns": OLD_COLUMNS, "prefixes": ("bg_p_purchase_",), "snapshots": 3},
    "feat+snap3": {
        "columns": NEW_COLUMNS,
        "prefixes": NEW_PREFIXES,
        "snapshots": 3,
    },
    # the fit-free ratios only: x / T and t_x / T mean the same at every cutoff, unlike
    # P(alive) and E[X(H)], whose scale moves with each cutoff's BG/NBD fit
    "ratios": {
        "columns": (*OLD_COLUMNS, "repeat_rate", "recency_share"),
        "prefixes": ("bg_p_purchase_",),
        "snapshots": 2,
    },
    # all but P(alive), which is 1 to six decimals at a no-dropout training cutoff (README)
    "feat-alive": {
        "columns": tuple(c for c in NEW_COLUMNS if c != "bg_p_alive"),
        "prefixes": NEW_PREFIXES,
        "snapshots": 2,
    },
    "argmax": {
        "columns": OLD_COLUMNS,
        "prefixes": ("bg_p_purchase_",),
        "snapshots": 2,
        "argmax": True,
    },
    # the blend share with the best backtest AUC, without the one-standard-error lean to linear
    "feat+argmax": {
        "columns": NEW_COLUMNS,
        "prefixes": NEW_PREFIXES,
        "snapshots": 2,
        "argmax": True,
    },
}


@contextmanager
def candidate(spec: dict[str, Any]) -> Iterator[None]:
    saved = (training.BTYD_FEATURES, training.BTYD_PREFIXES, training.TRAINING_SNAPSHOTS)
    se = propensity.auc_standard_error
    training.BTYD_FEATURES = spec["columns"]
    training.BTYD_PREFIXES = spec["prefixes"]
    training.TRAINING_SNAPSHOTS = spec["snapshots"]
    if spec.get("argmax"):
        propensity.auc_standard_error = lambda *_: 0.0  # type: ignore[assignment]
    try:
        yield
    finally:
        training.BTYD_FEATURES, training.BTYD_PREFIXES, training.TRAINING_SNAPSHOTS = saved
        propensity.auc_standard_error = se  # type: ignore[assignment]


def score_candidates(
    con: duckdb.DuckDBPyConnection, cutoff: Any, horizon: int, names: list[str]
) -> dict[str, pd.Series]:
    """Each candidate's scores (three calibrations) by profile id, as `rolling_origin.ours`."""
    settings = ModelSettings(propensity_horizon_days=horizon, churn_horizon_days=horizon)
    parsed = ParsedProducts(None, materialise_baskets(con, cutoff, "_ro_baskets"))
    run = ModelRun(con, cutoff, settings, parsed)
    feats = features_stage(run)
    life = lifetime_stage(run, feats)
    frame = life.frame
    buyer = frame["orders"].to_numpy() > 0
    target = training._Target(f"purchase_propensity_{horizon}d", horizon)
    cache: dict[Any, pd.DataFrame] = {}
    out: dict[str, pd.Series] = {}
    ids = frame["profile_id"].to_numpy()
    for name in names:
        with candidate(CANDIDATES[name]):
            clf = training._train(run, feats, target, cache, {})
        anchor_classifier(clf, frame, converged=life.model.bgnbd.converged)
        out[f"{name}/bg"] = pd.Series(clf.predict(frame), index=ids)
        if clf.model is None:
            continue
        anchored = clf.logit_shift
        clf.logit_shift = 0.0
        platt = clf.predict(frame)
        out[f"{name}/platt"] = pd.Series(platt, index=ids)
        bg_mean = float(frame.loc[buyer, f"bg_p_purchase_{horizon}d"].mean())
        mid = (bg_mean + float(clf.uncalibrated_horizon(frame)[buyer].mean())) / 2
        clf.logit_shift = logit_shift_for_mean(clf.uncalibrated_horizon(frame)[buyer], mid)
        out[f"{name}/mid"] = pd.Series(clf.predict(frame), index=ids)
        clf.logit_shift = anchored
    return out


def run(name: str, data: Path, args: argparse.Namespace) -> list[dict[str, Any]]:
    rel, reader, _ = ro.DATASETS[name]
    tx = reader(data / rel)
    digest = hashlib.sha256(pd.util.hash_pandas_object(tx, index=False).values).hexdigest()[:12]
    tag = f"{name}-{digest}-v{ro.PEER_VERSION}"
    con = duckdb.connect()
    con.execute("SET threads = 1")
    load_transactions(con, tx)
    cutoffs = ro.DEV_CUTOFFS[name]
    if args.cutoffs:
        cutoffs = cutoffs[-args.cutoffs :]
    rows = []
    for cutoff in cutoffs:
        feats = ro.buyers_at(con, cutoff)
        fits: dict[str, Any] | None = None
        for horizon in args.horizons or ro.DEV_HORIZONS:
            if fits is None and not (ro.CACHE / f"{tag}-{cutoff:%Y%m%d}-{horizon}.json").exists():
                fits = ro.btyd_peers(feats)
            peers = ro.peer_scores(con, tag, cutoff, feats, fits or {}, horizon)
            y = feats["profile_id"].isin(ro.bought(con, cutoff, cutoff + timedelta(days=horizon)))
            y_arr = y.to_numpy(int)
            peer_m = [
                ro.metrics(y_arr, np.asarray(r["rank"]), np.asarray(r["p"]))
                for r in peers.values()
                if "error" not in r
            ]
            t0 = time.perf_counter()
            scores = score_candidates(con, cutoff, horizon, args.candidates)
            row: dict[str, Any] = {
                "dataset": name,
                "cutoff": f"{cutoff:%Y-%m-%d}",
                "h": horizon,
                "rate": float(y_arr.mean()),
                "best_auc": max(m["auc"] for m in peer_m),
                "best_brier": min(m["brier"] for m in peer_m),
                "ours": {},
            }
            for key, s in scores.items():
                arr = s.reindex(feats["profile_id"]).to_numpy(float)
                row["ours"][key] = ro.metrics(y_arr, arr, arr)
            row["s"] = round(time.perf_counter() - t0, 1)
            rows.append(row)
            with OUT.open("a") as fh:
                fh.write(json.dumps({**row, "session": 8}) + "\n")
            print(
                f"{name} {row['cutoff']} H={horizon} rate={row['rate']:.3f} "
                f"best {row['best_auc']:.4f}/{row['best_brier']:.4f} "
                + " ".join(
                    f"{k}: {v['auc'] - row['best_auc']:+.4f} {v['brier'] - row['best_brier']:+.5f}"
                    f" {v['mean_p'] - row['rate']:+.3f}"
                    for k, v in row["ours"].items()
                ),
                flush=True,
            )
    return rows


def summary(rows: list[dict[str, Any]]) -> None:
    keys = sorted({k for r in rows for k in r["ours"]})
    for name in sorted({r["dataset"] for r in rows}):
        rs = [r for r in rows if r["dataset"] == name]
        for k in keys:
            ok = [r for r in rs if k in r["ours"]]
            margin = np.mean([r["ours"][k]["auc"] - r["best_auc"] for r in ok])
            gap = np.mean([r["ours"][k]["brier"] - r["best_brier"] for r in ok])
            wins = sum(r["ours"][k]["brier"] <= r["best_brier"] for r in ok)
            cal = [abs(r["ours"][k]["mean_p"] - r["rate"]) for r in ok]
            print(
                f"{name:14s} {k:18s} n={len(ok):2d} margin {margin:+.4f} brier gap {gap:+.5f}"
                f" brier<=best {wins}/{len(ok)} cal<=0.03 {sum(c <= 0.03 for c in cal)}/{len(ok)}"
                f" mean|cal| {np.mean(cal):.4f} max {max(cal):.3f}"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=ro.default_data())
    parser.add_argument("--only", action="append", required=True)
    parser.add_argument("--cutoffs", type=int)
    parser.add_argument("--horizons", type=int, nargs="*")
    parser.add_argument("--candidates", nargs="*", default=list(CANDIDATES))
    args = parser.parse_args()
    rows: list[dict[str, Any]] = []
    with threadpool_limits(limits=1):
        for name in args.only:
            rows += run(name, args.data, args)
    summary(rows)


if __name__ == "__main__":
    main()
