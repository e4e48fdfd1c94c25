"""Modelling at scale: 1M generated profiles with ~10M events, time and peak memory per stage.

    PYTHONPATH=$PWD python benchmarks/modelling_scale.py [--profiles 1000000]

Peak memory is the process's resident high-water mark (ru_maxrss) sampled after each stage,
so it includes DuckDB's native allocations, numpy and sklearn; the first stage also includes
the generator. Target: whole model run <= 60 s and <= 4 GB on 2 cores.
"""

from __future__ import annotations

import argparse
import resource
import time
from datetime import datetime

import duckdb

from connector.modelling.core import run_models
from connector.modelling.settings import ModelSettings, RuleSegment
from connector.modelling.testdata import generate


def rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--profiles", type=int, default=1_000_000)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    con = duckdb.connect()
    con.execute(f"SET threads = {int(args.threads)}")
    t0 = time.perf_counter()
    generate(con, n_profiles=args.profiles, events_per_profile=10.0, seed=42)
    gen_s = time.perf_counter() - t0
    row = con.execute("SELECT count(*) FROM events").fetchone()
    n_events = int(row[0]) if row else 0
    print(
        f"generated {args.profiles:,} profiles, {n_events:,} events in {gen_s:.1f} s; "
        f"peak RSS {rss_gb():.2f} GB"
    )
    settings = ModelSettings(
        rule_segments=(
            RuleSegment(
                id="vip-at-risk",
                name="VIPs at risk",
                expression='churn_risk > 0.7 and clv_tier == "high"',
            ),
        )
    )
    t0 = time.perf_counter()
    first = run_models(con, as_of=datetime(2025, 1, 1), settings=settings, previous=None)
    total = time.perf_counter() - t0
    print("| stage | seconds |")
    print("|---|---|")
    for stage, secs in first.timings.items():
        print(f"| {stage} | {secs:.1f} |")
    print(f"| **total run_models** | **{total:.1f}** |")
    print(
        f"peak RSS after the run: {rss_gb():.2f} GB; memberships {len(first.memberships):,}; "
        f"segments {len(first.segments)}"
    )
    t0 = time.perf_counter()
    second = run_models(con, as_of=datetime(2025, 1, 1), settings=settings, previous=first.state)
    print(
        f"second run (with previous state): {time.perf_counter() - t0:.1f} s; "
        f"drift status {second.drift['status']}; peak RSS {rss_gb():.2f} GB"
    )


if __name__ == "__main__":
    main()
