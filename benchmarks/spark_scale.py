"""The model run on Spark local mode against DuckDB: the same generated store, one run each.

    PYTHONPATH=$PWD python benchmarks/spark_scale.py [--profiles 100000] [--master local[2]]

The store is generated once into a DuckDB file; the DuckDB run reads it in place, the Spark run
publishes it to a Parquet warehouse first (timed as `publish`) and computes features and scores
on Spark (`connector.engine`). Both fit the models on the driver; the script checks that their
scores agree (max absolute difference) and prints seconds per stage for each engine, as a
Markdown table for benchmarks/README.md. One machine, so this measures Spark's overhead, not
its scale-out; README "Scale" projects the cost on N executors from these stages.
"""

from __future__ import annotations

import argparse
import tempfile
import time
import warnings
from datetime import datetime
from pathlib import Path

import duckdb
import numpy as np

from connector.config.models import EngineSettings
from connector.engine import model_backend
from connector.modelling.engine import run_models
from connector.modelling.settings import ModelSettings
from connector.testing.testdata import generate

AS_OF = datetime(2024, 12, 31, 23, 59, 59, 999999)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--profiles", type=int, default=100_000)
    parser.add_argument("--master", default="local[2]")
    args = parser.parse_args()
    warnings.filterwarnings("ignore", category=FutureWarning)
    settings = ModelSettings()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        con = duckdb.connect(str(root / "data.duckdb"))
        t0 = time.perf_counter()
        generate(con, n_profiles=args.profiles, events_per_profile=10.0, seed=42)
        events = con.execute("SELECT count(*) FROM events").fetchall()[0][0]
        print(
            f"generated {args.profiles:,} profiles, {events:,} events in "
            f"{time.perf_counter() - t0:.1f} s"
        )

        t0 = time.perf_counter()
        duck = run_models(con, as_of=AS_OF, settings=settings, previous=None)
        duck_total = time.perf_counter() - t0

        engine = EngineSettings(kind="spark", master=args.master, warehouse=str(root / "warehouse"))
        t0 = time.perf_counter()
        from connector.engine import spark_for

        spark_for(engine).sparkContext.setLogLevel("ERROR")
        start = time.perf_counter() - t0
        t0 = time.perf_counter()
        backend = model_backend(engine, root, con)
        publish = time.perf_counter() - t0
        t0 = time.perf_counter()
        on_spark = run_models(con, as_of=AS_OF, settings=settings, previous=None, backend=backend)
        spark_total = time.perf_counter() - t0

    floats = [c for c in duck.scores.columns if duck.scores[c].dtype.kind == "f"]
    diff = max(
        float(
            np.nanmax(np.abs(duck.scores[c].to_numpy(float) - on_spark.scores[c].to_numpy(float)))
        )
        for c in floats
    )
    same = (
        duck.memberships.sort_values(["segment_id", "profile_id"])
        .reset_index(drop=True)
        .equals(
            on_spark.memberships.sort_values(["segment_id", "profile_id"]).reset_index(drop=True)
        )
    )
    print(f"\n{args.profiles:,} profiles, {events:,} events; Spark master {args.master}")
    print(f"max score difference {diff:.2e}; memberships identical: {same}\n")
    print("| stage | DuckDB s | Spark s |\n|---|---:|---:|")
    print(f"| session start | - | {start:.1f} |")
    print(f"| publish to Parquet | - | {publish:.1f} |")
    for stage, seconds in duck.timings.items():
        print(f"| {stage} | {seconds:.1f} | {on_spark.timings.get(stage, float('nan')):.1f} |")
    print(f"| **model run** | **{duck_total:.1f}** | **{spark_total:.1f}** |")


if __name__ == "__main__":
    main()
