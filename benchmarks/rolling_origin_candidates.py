"""Candidate model changes scored on the development protocols of `rolling_origin.py`.

Each candidate is the shipped engine with one knob moved (the classifier's columns or their
scale, the number of stacked training snapshots, the blend, the logistic part's C), each
calibrated several ways: `bg` the shipped anchor (the BG/NBD buyer share, times the training
windows' trend since session 9), `share` the share alone (the anchor of sessions 5-8), `platt`
the Platt level alone, `mid` half way between the share and the Platt mean; `bgmix25/50` mix
the base's logit with BG/NBD's before anchoring. Session 9's jsonl lines came before the trend
was shipped: their `bg` is the share alone and `trend` the trend anchor. One line per protocol
is appended to `results/rolling_origin_dev_candidates.jsonl` (`--session` tags it); the
summary printed at the end is what a choice is made on. Only the dev protocols: a candidate is
never scored on a reported one. `--diagnose` prints, per protocol, the calibration slope and
Brier an in-sample (oracle) Platt refit of the base would reach.

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
from connector.modelling.blend import BoostedLogitBlend
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
# session 20: the last and the largest gap between purchase days, the gaps' coefficient of
# variation, the first purchase day's spend (``with_gaps``)
GAP_COLUMNS = ("last_gap", "max_gap", "gap_cv", "first_spend")
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
    # session 9: the linear part (the whole model wherever the backtest chooses share 0, as on
    # every CDNOW dev protocol) sees BG/NBD P(purchase within H) on the log-odds scale instead
    # of log1p(p), which is nearly p itself and flattens the low-probability end
    "logit": {
        "columns": OLD_COLUMNS,
        "prefixes": ("bg_p_purchase_",),
        "snapshots": 2,
        "logit_last": True,
    },
    # boosting with monotone constraints on the columns whose sign nobody doubts (recency
    # down, counts and BTYD probabilities up), so the trees extrapolate to the older scored
    # base; the out-of-time backtest still chooses the share ("mono"), or it is forced to 0.5
    "mono": {"columns": OLD_COLUMNS, "prefixes": ("bg_p_purchase_",), "snapshots": 2, "mono": True},
    "mono50": {
        "columns": OLD_COLUMNS,
        "prefixes": ("bg_p_purchase_",),
        "snapshots": 2,
        "mono": True,
        "share": 0.5,
    },
    "hgb50": {
        "columns": OLD_COLUMNS,
        "prefixes": ("bg_p_purchase_",),
        "snapshots": 2,
        "share": 0.5,
    },
    # the linear part as an additive spline model: each log-scaled column through a cubic
    # B-spline basis (5 knots at quantiles, linear beyond them), the same strong L2
    "spline": {
        "columns": OLD_COLUMNS,
        "prefixes": ("bg_p_purchase_",),
        "snapshots": 2,
        "spline": True,
    },
    # orders in the last H and 2H days (H = the horizon): the previous label window itself,
    # which the fixed 30/90/365-day windows only bracket
    "hwin": {
        "columns": (*OLD_COLUMNS, "orders_h", "orders_2h"),
        "prefixes": ("bg_p_purchase_",),
        "snapshots": 2,
    },
    # without the customer's age (tenure_days, customer_age_days): on a single cohort every
    # training row is younger than every scored row, so an age effect learnt at T - H is an
    # extrapolation at T (the BTYD columns still carry T, through the fitted model)
    "noage": {
        "columns": OLD_COLUMNS,
        "prefixes": ("bg_p_purchase_",),
        "snapshots": 2,
        "drop": ("tenure_days", "customer_age_days"),
    },
    # session 20: purchase-rhythm columns the RFM summary does not hold: the last gap between
    # purchase days, the largest gap, the gaps' coefficient of variation, the first day's spend
    "gaps": {
        "columns": (*OLD_COLUMNS, *GAP_COLUMNS),
        "prefixes": ("bg_p_purchase_",),
        "snapshots": 2,
    },
    "gaps2": {
        "columns": (*OLD_COLUMNS, "last_gap", "max_gap"),
        "prefixes": ("bg_p_purchase_",),
        "snapshots": 2,
    },
    # the logistic part's L2 strength (shipped C = 0.02, chosen on the reported protocols)
    **{
        f"C{c}": {"columns": OLD_COLUMNS, "prefixes": ("bg_p_purchase_",), "snapshots": 2, "C": c}
        for c in (0.005, 0.01, 0.05)
    },
}
SIGNS = {
    "recency_days": -1,
    "days_to_next_order": -1,
    "days_since_engagement": -1,
    "frequency": 1,
    "orders": 1,
    "expected_purchases": 1,
    **{f"orders_{w}d": 1 for w in (30, 90, 365)},
}
_NAMES: list[str] = []


class _SplineBlend(BoostedLogitBlend):
    def fit(self, x: np.ndarray, y: np.ndarray, keys: list[str] | None = None) -> BoostedLogitBlend:
        from sklearn.preprocessing import SplineTransformer

        self.missing = np.asarray(np.isnan(x).any(axis=0), dtype=bool)
        z = BoostedLogitBlend._raw_linear(self, x)
        self.spl = SplineTransformer(
            n_knots=5, degree=3, knots="quantile", extrapolation="linear"
        ).fit(z)
        return super().fit(x, y, keys)

    def _raw_linear(self, x: np.ndarray) -> np.ndarray:
        z = BoostedLogitBlend._raw_linear(self, x)
        if not hasattr(self, "spl"):
            return z
        out: np.ndarray = np.hstack([z, self.spl.transform(z)])
        return out


class _MonoBlend(BoostedLogitBlend):
    def _fit_trees(self, x: np.ndarray, y: np.ndarray, keys: list[str] | None) -> None:
        assert len(_NAMES) == x.shape[1], (_NAMES, x.shape)
        signs = [SIGNS.get(c, 1 if c.startswith("bg_p_purchase_") else 0) for c in _NAMES]
        self.hgb.set_params(monotonic_cst=signs)
        super()._fit_trees(x, y, keys)


def with_horizon_windows(run: ModelRun, cut: Any, frame: pd.DataFrame) -> pd.DataFrame:
    """`frame` plus orders_h / orders_2h: orders in [cut - kH, cut), k = 1, 2."""
    h = run.settings.propensity_horizon_days
    counts = run.con.execute(
        """SELECT profile_id,
                  count(*) FILTER (WHERE occurred_at >= ?) AS orders_h,
                  count(*) AS orders_2h
           FROM events WHERE type = 'order_completed' AND occurred_at < ? AND occurred_at >= ?
           GROUP BY 1""",
        [cut - timedelta(days=h), cut, cut - timedelta(days=2 * h)],
    ).df()
    counts["profile_id"] = counts["profile_id"].astype(str)
    out = frame.drop(columns=["orders_h", "orders_2h"], errors="ignore").merge(
        counts, on="profile_id", how="left"
    )
    out[["orders_h", "orders_2h"]] = out[["orders_h", "orders_2h"]].fillna(0.0).astype(float)
    return out


def with_gaps(run: ModelRun, cut: Any, frame: pd.DataFrame) -> pd.DataFrame:
    """`frame` plus the purchase-rhythm columns of GAP_COLUMNS at `cut` (NaN when undefined)."""
    gaps = run.con.execute(
        """WITH d AS (
             SELECT profile_id, date_trunc('day', occurred_at) AS d, sum(revenue) AS rev
             FROM events WHERE type = 'order_completed' AND occurred_at < ? GROUP BY 1, 2),
           g AS (
             SELECT profile_id, rev,
                    date_diff('day', lag(d) OVER (PARTITION BY profile_id ORDER BY d), d) AS gap,
                    row_number() OVER (PARTITION BY profile_id ORDER BY d) AS rn,
                    row_number() OVER (PARTITION BY profile_id ORDER BY d DESC) AS rd
             FROM d)
           SELECT profile_id,
                  max(gap) FILTER (WHERE rd = 1)::DOUBLE AS last_gap,
                  max(gap)::DOUBLE AS max_gap,
                  (stddev_samp(gap) / nullif(avg(gap), 0))::DOUBLE AS gap_cv,
                  max(rev) FILTER (WHERE rn = 1)::DOUBLE AS first_spend
           FROM g GROUP BY 1""",
        [cut],
    ).df()
    gaps["profile_id"] = gaps["profile_id"].astype(str)
    cols = list(GAP_COLUMNS)
    return frame.drop(columns=cols, errors="ignore").merge(gaps, on="profile_id", how="left")


_TRAINING_FRAME = training._training_frame
_FEATURE_COLUMNS = training.feature_columns


def _frame_with_windows(run: ModelRun, cut: Any, categories: tuple[str, ...]) -> pd.DataFrame:
    return with_horizon_windows(run, cut, _TRAINING_FRAME(run, cut, categories))


def _frame_with_gaps(run: ModelRun, cut: Any, categories: tuple[str, ...]) -> pd.DataFrame:
    return with_gaps(run, cut, _TRAINING_FRAME(run, cut, categories))


@contextmanager
def candidate(spec: dict[str, Any]) -> Iterator[None]:
    saved = (training.BTYD_FEATURES, training.BTYD_PREFIXES, training.TRAINING_SNAPSHOTS)
    se = propensity.auc_standard_error
    training.BTYD_FEATURES = spec["columns"]
    training.BTYD_PREFIXES = spec["prefixes"]
    training.TRAINING_SNAPSHOTS = spec["snapshots"]
    raw_linear = BoostedLogitBlend._raw_linear
    saved_fns = (training.backtest_hgb_share, propensity._fit_blend, propensity.BoostedLogitBlend)
    if spec.get("mono") or "share" in spec:
        _patch_blend(spec)
    init = BoostedLogitBlend.__init__
    if spec.get("drop"):
        training.feature_columns = lambda f: [
            c for c in _FEATURE_COLUMNS(f) if c not in spec["drop"]
        ]
    training._training_frame = (
        _frame_with_windows
        if "orders_h" in spec["columns"]
        else _frame_with_gaps
        if "last_gap" in spec["columns"]
        else _TRAINING_FRAME
    )
    if "C" in spec:

        def with_c(self: BoostedLogitBlend, *a: Any, **kw: Any) -> None:
            init(self, *a, **kw)
            self.logit.set_params(C=spec["C"])

        BoostedLogitBlend.__init__ = with_c  # type: ignore[method-assign]
    if spec.get("spline"):
        propensity.BoostedLogitBlend = _SplineBlend
    if spec.get("argmax"):
        propensity.auc_standard_error = lambda *_: 0.0  # type: ignore[assignment]
    if spec.get("logit_last"):  # the last column is bg_p_purchase_<H>d (sorted prefixed columns)
        BoostedLogitBlend._raw_linear = _logit_last  # type: ignore[method-assign]
    try:
        yield
    finally:
        training.BTYD_FEATURES, training.BTYD_PREFIXES, training.TRAINING_SNAPSHOTS = saved
        propensity.auc_standard_error = se  # type: ignore[assignment]
        BoostedLogitBlend._raw_linear = raw_linear  # type: ignore[method-assign]
        BoostedLogitBlend.__init__ = init  # type: ignore[method-assign]
        training._training_frame = _TRAINING_FRAME
        training.feature_columns = _FEATURE_COLUMNS
        training.backtest_hgb_share, propensity._fit_blend, propensity.BoostedLogitBlend = saved_fns


def _patch_blend(spec: dict[str, Any]) -> None:
    backtest, fit_blend = training.backtest_hgb_share, propensity._fit_blend

    def bt(earlier: pd.DataFrame, *args: Any, columns: list[str], **kw: Any) -> dict[str, Any]:
        _NAMES[:] = propensity.informative_columns(earlier, columns)
        out = backtest(earlier, *args, columns=columns, **kw)
        if "share" in spec:
            out = {**out, "hgb_share": spec["share"]}
        return out

    def fb(train: pd.DataFrame, labels: Any, columns: list[str], split: Any, *a: Any) -> Any:
        _NAMES[:] = propensity.informative_columns(train.loc[split.fit], columns)
        return fit_blend(train, labels, columns, split, *a)

    training.backtest_hgb_share = bt
    propensity._fit_blend = fb
    if spec.get("mono"):
        propensity.BoostedLogitBlend = _MonoBlend


def _logit_last(self: BoostedLogitBlend, x: np.ndarray) -> np.ndarray:
    z = np.log1p(np.clip(np.nan_to_num(x, nan=0.0), 0.0, None))
    q = np.clip(np.nan_to_num(x[:, -1], nan=0.0), 1e-4, 1 - 1e-4)
    z[:, -1] = np.log(q / (1 - q))
    out: np.ndarray = np.hstack([z, np.isnan(x[:, self.missing]).astype(float)])
    return out


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
    shares: dict[str, Any] = {}
    ids = frame["profile_id"].to_numpy()
    frame = with_gaps(run, cutoff, with_horizon_windows(run, cutoff, frame))
    for name in names:
        if {"orders_h", "last_gap"} & set(CANDIDATES[name]["columns"]):
            cache = {}  # the training frames of this candidate carry the window columns
        with candidate(CANDIDATES[name]):
            clf = training._train(run, feats, target, cache, {})
        shares[name] = clf.card.get("blend", {}).get("hgb_share")
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
        if name == "base":
            ours_p = np.clip(clf.uncalibrated_horizon(frame), 1e-6, 1 - 1e-6)
            bg_p = np.clip(frame[f"bg_p_purchase_{horizon}d"].to_numpy(float), 1e-6, 1 - 1e-6)
            for w in (0.25, 0.5):
                z = (1 - w) * np.log(ours_p / (1 - ours_p)) + w * np.log(bg_p / (1 - bg_p))
                mixed = 1 / (1 + np.exp(-z))
                shift = logit_shift_for_mean(mixed[buyer], bg_mean)
                out[f"bgmix{int(w * 100)}/bg"] = pd.Series(
                    1 / (1 + np.exp(-(z + shift))), index=ids
                )
        # the anchor before session 9: the BG/NBD buyer share alone, without the trend factor
        clf.logit_shift = logit_shift_for_mean(clf.uncalibrated_horizon(frame)[buyer], bg_mean)
        out[f"{name}/share"] = pd.Series(clf.predict(frame), index=ids)
        clf.logit_shift = anchored
    print("shares", shares, flush=True)
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
            by_peer = {
                label: ro.metrics(y_arr, np.asarray(r["rank"]), np.asarray(r["p"]))
                for label, r in peers.items()
                if "error" not in r
            }
            peer_m = list(by_peer.values())
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
                "peers": by_peer,
            }
            for key, s in scores.items():
                arr = s.reindex(feats["profile_id"]).to_numpy(float)
                row["ours"][key] = ro.metrics(y_arr, arr, arr)
            if args.diagnose and "base/bg" in scores:
                from sklearn.linear_model import LogisticRegression

                q = np.clip(
                    scores["base/bg"].reindex(feats["profile_id"]).to_numpy(float), 1e-6, 1 - 1e-6
                )
                z = np.log(q / (1 - q)).reshape(-1, 1)
                lr = LogisticRegression(C=1e6).fit(z, y_arr)
                po = lr.predict_proba(z)[:, 1]
                print(
                    f"oracle slope {lr.coef_[0][0]:.3f} brier {np.mean((po - y_arr) ** 2):.5f} "
                    f"best {row['best_brier']:.5f} ours {np.mean((q - y_arr) ** 2):.5f}"
                )
            row["s"] = round(time.perf_counter() - t0, 1)
            rows.append(row)
            with OUT.open("a") as fh:
                fh.write(json.dumps({**row, "session": args.session}) + "\n")
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
    parser.add_argument("--diagnose", action="store_true")
    parser.add_argument("--session", type=int, default=9, help="tag of the jsonl lines")
    args = parser.parse_args()
    rows: list[dict[str, Any]] = []
    with threadpool_limits(limits=1):
        for name in args.only:
            rows += run(name, args.data, args)
    summary(rows)


if __name__ == "__main__":
    main()
