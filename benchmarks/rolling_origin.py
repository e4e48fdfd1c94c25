"""Rolling-origin evaluation: the shipped purchase score against peers on cutoffs nobody tuned on.

For each dataset (CDNOW 1/10 sample, CDNOW master, UCI Online Retail) six cutoffs spread over
the data and horizons of 30, 60 and 90 days: the label is "any order in [cutoff, cutoff + H)",
the horizon the score is for. Every customer with an order before the cutoff is scored.

- **ours**: the shipped engine's stages (features → lifetime → classifiers → scores) with
  `propensity_horizon_days = churn_horizon_days = H`, read from the score column it pushes.
- **Pareto/NBD** and **BG/NBD** (lifetimes 0.11.3, weeks): P(X(H) > 0).
- **naive**: repeat-purchase rate x/T, ties broken by recency; as a probability 1 - exp(-rate H).
- **HGB (RFM)**: gradient boosting on the RFM features, trained on the time split (features at
  cutoff - H, labels [cutoff - H, cutoff)); modest tuning: three settings, the best AUC on a
  quarter of the training customers (hash-chosen) wins.

Per protocol: AUC, Brier and mean predicted vs actual rate of every model; per dataset: the mean
AUC margin over each protocol's best peer with a paired bootstrap CI (customers resampled within
each protocol). Peers are cached on disk (keyed by the transactions' hash), so a rerun after a
model change only refits ours. No parallelism: the host is shared.

    PYTHONPATH=$PWD python benchmarks/rolling_origin.py [--data ../shared/data] [--only NAME]
        [--cutoffs 2] [--horizons 30] [--out results.json] [--dev]
    python benchmarks/rolling_origin.py --render results.json   # the README tables, no run

`--dev` runs the development protocols (`DEV_CUTOFFS` x `DEV_HORIZONS`): every model change
is chosen there; the reported protocols are run once afterwards and reported as they come.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import time
import warnings
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd
from scipy.stats import rankdata
from threadpoolctl import threadpool_limits

from connector.modelling.bgnbd import BgNbdParams, prob_purchase
from connector.modelling.features import RFM_FEATURES, compute_features
from connector.modelling.holdout import stable_unit
from connector.testing.testdata import load_transactions, read_cdnow, read_online_retail

warnings.filterwarnings("ignore")  # lifetimes/autograd deprecation noise

HORIZONS = (30, 60, 90)
DATASETS: dict[str, tuple[str, Callable[[Path], pd.DataFrame], tuple[datetime, ...]]] = {
    "cdnow_sample": (
        "cdnow/CDNOW_sample.txt",
        read_cdnow,
        tuple(datetime(*d) for d in ((1997, 6, 1), (1997, 8, 1), (1997, 10, 1), (1997, 12, 1),
                                     (1998, 2, 1), (1998, 4, 1))),
    ),
    "cdnow_master": (
        "cdnow/CDNOW_master.txt",
        read_cdnow,
        tuple(datetime(*d) for d in ((1997, 6, 1), (1997, 8, 1), (1997, 10, 1), (1997, 12, 1),
                                     (1998, 2, 1), (1998, 4, 1))),
    ),
    "online_retail": (
        "online_retail/online_retail.csv.gz",
        read_online_retail,
        tuple(datetime(*d) for d in ((2011, 3, 1), (2011, 4, 15), (2011, 6, 1), (2011, 7, 15),
                                     (2011, 8, 15), (2011, 9, 9))),
    ),
}  # fmt: skip
# The development protocols: every model or calibration change is chosen on these, never on
# the reported ones above. Other cutoffs (between and beside the reported ones) and other
# horizons (45 and 75 days); the label windows overlap the reported ones in time, so dev and
# reported figures are correlated, but no reported protocol is ever looked at while choosing.
DEV_HORIZONS = (45, 75)
DEV_CUTOFFS: dict[str, tuple[datetime, ...]] = {
    "cdnow_sample": tuple(datetime(*d) for d in ((1997, 7, 1), (1997, 9, 1), (1997, 11, 1),
                                                 (1998, 1, 1), (1998, 3, 1))),
    "cdnow_master": tuple(datetime(*d) for d in ((1997, 7, 1), (1997, 9, 1), (1997, 11, 1),
                                                 (1998, 1, 1), (1998, 3, 1))),
    "online_retail": tuple(datetime(*d) for d in ((2011, 3, 20), (2011, 5, 1), (2011, 6, 20),
                                                  (2011, 8, 1), (2011, 9, 1), (2011, 9, 20))),
}  # fmt: skip
CACHE = Path.home() / ".cache" / "cdp-rolling-origin"
PEER_VERSION = "1"
HGB_GRID = (
    {"learning_rate": 0.05, "max_leaf_nodes": 15, "min_samples_leaf": 40},
    {"learning_rate": 0.1, "max_leaf_nodes": 31, "min_samples_leaf": 20},
    {"learning_rate": 0.05, "max_leaf_nodes": 7, "min_samples_leaf": 80},
)


def auc(y: np.ndarray, s: np.ndarray) -> float:
    """Mann-Whitney AUC (ties count half)."""
    pos = int(y.sum())
    neg = len(y) - pos
    if pos == 0 or neg == 0:
        return float("nan")
    r = rankdata(s)
    return float((r[y == 1].sum() - pos * (pos + 1) / 2) / (pos * neg))


def bought(con: duckdb.DuckDBPyConnection, start: datetime, end: datetime) -> set[str]:
    rows = con.execute(
        """SELECT DISTINCT profile_id FROM events WHERE type = 'order_completed'
           AND occurred_at >= ? AND occurred_at < ?""",
        [start, end],
    ).fetchall()
    return {str(r[0]) for r in rows}


def buyers_at(con: duckdb.DuckDBPyConnection, cutoff: datetime) -> pd.DataFrame:
    feats = compute_features(con, cutoff, categories=[])
    return feats[feats["orders"] > 0].reset_index(drop=True)


# ----------------------------------------------------------------------------- peers
def btyd_peers(feats: pd.DataFrame) -> dict[str, Any]:
    """lifetimes Pareto/NBD and BG/NBD fitted once per cutoff (weeks)."""
    from lifetimes import BetaGeoFitter, ParetoNBDFitter

    x = feats["frequency"].to_numpy(float)
    t_x, T = feats["t_x"].to_numpy(float) / 7, feats["T"].to_numpy(float) / 7
    fits: dict[str, Any] = {}
    for label, cls in (("Pareto/NBD", ParetoNBDFitter), ("BG/NBD", BetaGeoFitter)):
        try:
            fits[label] = cls().fit(x, t_x, T)
        except Exception as exc:  # noqa: BLE001 (a peer that fails is a finding, not a crash)
            fits[label] = type(exc).__name__
    return fits


def btyd_prob(fit: Any, feats: pd.DataFrame, horizon: int) -> np.ndarray | str:
    if isinstance(fit, str):
        return fit
    x = feats["frequency"].to_numpy(float)
    t_x, T = feats["t_x"].to_numpy(float) / 7, feats["T"].to_numpy(float) / 7
    if hasattr(fit, "conditional_probability_of_n_purchases_up_to_time"):  # Pareto/NBD
        p0 = fit.conditional_probability_of_n_purchases_up_to_time(0, horizon / 7, x, t_x, T)
        p = 1 - np.asarray(p0, float)
    else:  # lifetimes' BG/NBD has no conditional P(X(t) = 0): the closed form, its parameters
        r, alpha, a, b = (fit.params_[k] for k in ("r", "alpha", "a", "b"))
        p = prob_purchase(BgNbdParams(r, alpha, a, b, 0, True, 1, 1), x, t_x, T, horizon / 7)
    return p if np.isfinite(p).all() else "non-finite predictions"


def naive(feats: pd.DataFrame, horizon: int) -> tuple[np.ndarray, np.ndarray]:
    """(ranking, probability): rate x/T, ties by recency; probability 1 - exp(-rate * H)."""
    rate = feats["frequency"].to_numpy(float) / np.maximum(feats["T"].to_numpy(float), 1.0)
    recency = feats["recency_days"].to_numpy(float)
    rank = rankdata(rate) + 0.5 * (1 - rankdata(recency) / (len(recency) + 1))
    return rank, 1 - np.exp(-rate * horizon)


def hgb_rfm(
    train: pd.DataFrame, labels: np.ndarray, now: pd.DataFrame
) -> tuple[np.ndarray, dict[str, Any]]:
    from sklearn.ensemble import HistGradientBoostingClassifier

    cols = [c for c in RFM_FEATURES if train[c].nunique() > 1]
    x = train[cols].to_numpy(float)
    val = stable_unit(train["profile_id"].tolist(), "rolling-hgb") < 0.25
    best: tuple[float, dict[str, Any]] = (-1.0, HGB_GRID[0])
    for params in HGB_GRID:
        m = HistGradientBoostingClassifier(max_iter=200, random_state=0, **params)
        m.fit(x[~val], labels[~val])
        a = auc(labels[val], m.predict_proba(x[val])[:, 1])
        if a > best[0]:
            best = (a, params)
    m = HistGradientBoostingClassifier(max_iter=200, random_state=0, **best[1]).fit(x, labels)
    return m.predict_proba(now[cols].to_numpy(float))[:, 1], best[1]


# ----------------------------------------------------------------------------- ours
def ours(con: duckdb.DuckDBPyConnection, cutoff: datetime, horizon: int) -> pd.Series:
    """The shipped score for horizon H, by profile id: the engine's features and lifetime
    stages and its propensity classifier (`training._train`, as `classifiers_stage` calls it),
    scored as `scores_stage` does. The churn model is skipped: it is not what is measured."""
    from connector.modelling import training

    try:
        from connector.modelling.anchor import anchor_classifier
    except ImportError:  # the code before the anchor (the baseline)
        anchor_classifier = None
    from connector.modelling.features import materialise_baskets
    from connector.modelling.settings import ModelSettings
    from connector.modelling.stages import ModelRun, ParsedProducts, features_stage, lifetime_stage

    settings = ModelSettings(propensity_horizon_days=horizon, churn_horizon_days=horizon)
    parsed = ParsedProducts(None, materialise_baskets(con, cutoff, "_ro_baskets"))
    run = ModelRun(con, cutoff, settings, parsed)
    feats = features_stage(run)
    life = lifetime_stage(run, feats)
    target = training._Target(f"purchase_propensity_{horizon}d", horizon)
    clf = training._train(run, feats, target, {}, {})
    frame = life.frame
    if anchor_classifier is not None:  # the drift-proof calibration, where the code has it
        anchor_classifier(clf, frame, converged=life.model.bgnbd.converged)
    return pd.Series(clf.predict(frame), index=frame["profile_id"].to_numpy())


# ----------------------------------------------------------------------------- protocol
def peer_scores(
    con: duckdb.DuckDBPyConnection,
    tag: str,
    cutoff: datetime,
    feats: pd.DataFrame,
    fits: dict[str, Any],
    horizon: int,
) -> dict[str, dict[str, Any]]:
    path = CACHE / f"{tag}-{cutoff:%Y%m%d}-{horizon}.json"
    if path.exists():
        cached: dict[str, dict[str, Any]] = json.loads(path.read_text())
        return cached
    out: dict[str, dict[str, Any]] = {}
    for label, fit in fits.items():
        p = btyd_prob(fit, feats, horizon)
        out[label] = {"error": p} if isinstance(p, str) else {"rank": p.tolist(), "p": p.tolist()}
    rank, p = naive(feats, horizon)
    out["naive rate/recency"] = {"rank": rank.tolist(), "p": p.tolist()}
    train_cut = cutoff - timedelta(days=horizon)
    train = buyers_at(con, train_cut)
    labels = train["profile_id"].isin(bought(con, train_cut, cutoff)).to_numpy(int)
    if len(train) >= 50 and 0 < labels.sum() < len(labels):
        p, params = hgb_rfm(train, labels, feats)
        out["HGB (RFM)"] = {"rank": p.tolist(), "p": p.tolist(), "params": params}
    else:
        out["HGB (RFM)"] = {"error": f"{len(train)} training rows, {labels.sum()} positives"}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(out))
    return out


def metrics(y: np.ndarray, rank: np.ndarray, p: np.ndarray) -> dict[str, float]:
    return {
        "auc": auc(y, rank),
        "brier": float(np.mean((np.clip(p, 0, 1) - y) ** 2)),
        "mean_p": float(np.mean(p)),
    }


def run_dataset(
    name: str, data: Path, n_cutoffs: int | None, horizons: tuple[int, ...], *, dev: bool = False
) -> list[dict[str, Any]]:
    rel, reader, cutoffs = DATASETS[name]
    if dev:
        cutoffs = DEV_CUTOFFS[name]
    tx = reader(data / rel)
    digest = hashlib.sha256(pd.util.hash_pandas_object(tx, index=False).values).hexdigest()[:12]
    tag = f"{name}-{digest}-v{PEER_VERSION}"
    con = duckdb.connect()
    con.execute("SET threads = 1")
    load_transactions(con, tx)
    if n_cutoffs:
        cutoffs = cutoffs[-n_cutoffs:]
    protocols: list[dict[str, Any]] = []
    for cutoff in cutoffs:
        feats = buyers_at(con, cutoff)
        fits: dict[str, Any] | None = None
        for horizon in horizons:
            if fits is None and not (CACHE / f"{tag}-{cutoff:%Y%m%d}-{horizon}.json").exists():
                fits = btyd_peers(feats)
            peers = peer_scores(con, tag, cutoff, feats, fits or {}, horizon)
            y = feats["profile_id"].isin(bought(con, cutoff, cutoff + timedelta(days=horizon)))
            y_arr = y.to_numpy(int)
            t0 = time.perf_counter()
            row: dict[str, Any] = {
                "dataset": name,
                "cutoff": f"{cutoff:%Y-%m-%d}",
                "horizon": horizon,
                "customers": len(feats),
                "actual_rate": float(y_arr.mean()),
                "models": {},
                "arrays": {"y": y_arr},
            }
            try:
                mine = ours(con, cutoff, horizon).reindex(feats["profile_id"]).to_numpy(float)
                row["models"]["ours"] = metrics(y_arr, mine, mine)
                row["arrays"]["ours"] = mine
            except Exception as exc:  # noqa: BLE001 (a crash of ours is reported, not hidden)
                row["models"]["ours"] = {"error": f"{type(exc).__name__}: {exc}"[:120]}
            row["ours_s"] = round(time.perf_counter() - t0, 2)
            for label, res in peers.items():
                if "error" in res:
                    row["models"][label] = {"error": res["error"]}
                    continue
                rank, p = np.asarray(res["rank"]), np.asarray(res["p"])
                row["models"][label] = metrics(y_arr, rank, p)
                row["arrays"][label] = rank
            protocols.append(row)
            print(summary_line(row), flush=True)
    return protocols


def best_peer(row: dict[str, Any]) -> str | None:
    peers = {k: v["auc"] for k, v in row["models"].items() if k != "ours" and "auc" in v}
    return max(peers, key=lambda k: peers[k]) if peers else None


def summary_line(row: dict[str, Any]) -> str:
    parts = [f"{row['dataset']} {row['cutoff']} H={row['horizon']} n={row['customers']}"]
    parts.append(f"rate={row['actual_rate']:.3f}")
    for k, v in row["models"].items():
        if "auc" in v:
            parts.append(f"{k}: auc {v['auc']:.4f} brier {v['brier']:.4f} p {v['mean_p']:.3f}")
        else:
            parts.append(f"{k}: {v['error']}")
    return " | ".join(parts)


def bootstrap(protocols: list[dict[str, Any]], draws: int = 200) -> tuple[float, float, float]:
    """Mean margin of ours over each protocol's best peer, with a paired bootstrap 95% CI."""
    usable = [(r, best_peer(r)) for r in protocols if "auc" in r["models"].get("ours", {})]
    usable = [(r, b) for r, b in usable if b]
    if not usable:
        return float("nan"), float("nan"), float("nan")
    mean = float(np.mean([r["models"]["ours"]["auc"] - r["models"][b]["auc"] for r, b in usable]))
    rng = np.random.default_rng(0)
    out = []
    for _ in range(draws):
        margins = []
        for r, b in usable:
            y = r["arrays"]["y"]
            i = rng.integers(0, len(y), len(y))
            margins.append(auc(y[i], r["arrays"]["ours"][i]) - auc(y[i], r["arrays"][b][i]))
        out.append(np.nanmean(margins))
    return mean, float(np.percentile(out, 2.5)), float(np.percentile(out, 97.5))


def table(protocols: list[dict[str, Any]]) -> list[str]:
    lines = [
        "| dataset | cutoff | H | customers | actual rate | ours AUC | best peer (AUC) | margin |"
        " ours Brier | best peer Brier | ours mean p | Pareto/NBD AUC | BG/NBD AUC | naive AUC"
        " | HGB (RFM) AUC |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]

    def a(r: dict[str, Any], k: str) -> str:
        v = r["models"].get(k, {})
        return f"{v['auc']:.4f}" if "auc" in v else str(v.get("error", "-"))[:24]

    for r in protocols:
        o = r["models"].get("ours", {})
        b = best_peer(r)
        briers = [v["brier"] for k, v in r["models"].items() if k != "ours" and "brier" in v]
        if "auc" in o and b:
            margin = f"{o['auc'] - r['models'][b]['auc']:+.4f}"
            ours_cols = f"{o['auc']:.4f} | {b} ({r['models'][b]['auc']:.4f}) | {margin}"
            ours_cols += f" | {o['brier']:.4f} | {min(briers):.4f} | {o['mean_p']:.3f}"
        else:
            ours_cols = f"{o.get('error', '-')[:40]} | {b} | - | - | - | -"
        lines.append(
            f"| {r['dataset']} | {r['cutoff']} | {r['horizon']} | {r['customers']:,} |"
            f" {r['actual_rate']:.3f} | {ours_cols} | {a(r, 'Pareto/NBD')} | {a(r, 'BG/NBD')} |"
            f" {a(r, 'naive rate/recency')} | {a(r, 'HGB (RFM)')} |"
        )
    return lines


def targets(name: str, protocols: list[dict[str, Any]]) -> str:
    mean, lo, hi = bootstrap(protocols)
    ok = [r for r in protocols if "auc" in r["models"].get("ours", {})]
    brier_wins = sum(
        r["models"]["ours"]["brier"]
        <= min(v["brier"] for k, v in r["models"].items() if k != "ours" and "brier" in v)
        for r in ok
    )
    cal = [abs(r["models"]["ours"]["mean_p"] - r["actual_rate"]) for r in ok]
    return (
        f"{name}: mean AUC margin over the best peer {mean:+.4f} (95% CI {lo:+.4f} .. {hi:+.4f});"
        f" Brier <= best peer Brier on {brier_wins}/{len(protocols)};"
        f" |mean p - actual| max {max(cal, default=float('nan')):.3f},"
        f" <= 0.03 on {sum(c <= 0.03 for c in cal)}/{len(protocols)};"
        f" ours failed on {len(protocols) - len(ok)}"
    )


def default_data() -> Path:
    """``shared/data`` beside the checkout (or above it), else ``data``."""
    here = Path(__file__).resolve().parents[1]
    found = [p / "shared" / "data" for p in here.parents if (p / "shared" / "data").is_dir()]
    return found[0] if found else Path("data")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=default_data())
    parser.add_argument("--only", action="append", help="dataset name(s) to run")
    parser.add_argument("--cutoffs", type=int, help="only the last N cutoffs (quick runs)")
    parser.add_argument("--horizons", type=int, nargs="*")
    parser.add_argument(
        "--dev", action="store_true", help="the development protocols (choose changes here)"
    )
    parser.add_argument("--out", type=Path, help="write the protocols as JSON here")
    parser.add_argument(
        "--render", type=Path, help="print the tables of a saved --out JSON (README), no run"
    )
    args = parser.parse_args()
    if args.render:
        saved = json.loads(args.render.read_text())
        print("\n".join(table(saved["protocols"])))
        print()
        print("\n".join(saved["targets"]))
        return
    everything: list[dict[str, Any]] = []
    lines: list[str] = []
    for name in args.only or list(DATASETS):
        # one thread: OpenMP workers spinning on a shared host cost 30x the CPU of the work
        with threadpool_limits(limits=1):
            horizons = args.horizons or (DEV_HORIZONS if args.dev else HORIZONS)
            protocols = run_dataset(name, args.data, args.cutoffs, tuple(horizons), dev=args.dev)
        everything += protocols
        lines.append(targets(name, protocols))
    print("\n".join(table(everything)))
    print()
    print("\n".join(lines))
    if args.out:
        for r in everything:
            r.pop("arrays", None)
        args.out.write_text(json.dumps({"protocols": everything, "targets": lines}, indent=1))


if __name__ == "__main__":
    main()
