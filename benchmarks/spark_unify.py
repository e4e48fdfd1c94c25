"""A full unify with identities resolved on Spark local mode against the in-process resolver.

    PYTHONPATH=$PWD python benchmarks/spark_unify.py [--profiles 100000] [--master local[2]]

Generated people (`connector.testing.identity_data`: households, phone-only links, second
e-mails joined by events, blocked addresses, accounts over the cap) are stored once and the
store file copied, so both runs start from the same bytes and the same id salt. Each runs one
full unify (the path a first run, a full refresh or an identity settings change takes); the
script checks that every identity table and profile came out identical and prints seconds for
the whole unify and for the resolution alone (the part that moves to Spark).
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
import warnings
from collections.abc import Iterable
from pathlib import Path

from connector.config.models import EngineSettings
from connector.engine import identity_resolver, spark_for
from connector.identity import unify
from connector.identity.resolver import IdentityRecord, Resolution, Resolver, resolve
from connector.store import DataStore
from connector.testing import identity_data


class _Timed:
    """A resolver that notes how long it took (the resolution's share of the unify)."""

    def __init__(self, inner: Resolver) -> None:
        self.inner, self.seconds = inner, 0.0

    def __call__(
        self,
        records: Iterable[IdentityRecord],
        *,
        blocked: Iterable[str] = (),
        max_ids_per_kind: int = 5,
        uncapped: frozenset[str] = frozenset(),
    ) -> Resolution:
        t0 = time.perf_counter()
        res = self.inner(
            records, blocked=blocked, max_ids_per_kind=max_ids_per_kind, uncapped=uncapped
        )
        self.seconds = time.perf_counter() - t0
        return res


def _unify(path: Path, resolver: _Timed) -> tuple[float, DataStore]:
    store = DataStore(path)
    t0 = time.perf_counter()
    unify(
        store,
        blocked=identity_data.BLOCKED,
        max_ids_per_kind=5,
        run_id="bench",
        full=True,
        resolve_all=resolver,
    )
    return time.perf_counter() - t0, store


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--profiles", type=int, default=100_000)
    parser.add_argument("--master", default="local[2]")
    args = parser.parse_args()
    warnings.filterwarnings("ignore", category=FutureWarning)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        t0 = time.perf_counter()
        profiles, events = identity_data.first_batch(args.profiles)
        store = DataStore(root / "duckdb.duckdb")
        # the id salt is minted on a store's first unify: both copies must share it
        store.con.execute("INSERT INTO store_meta VALUES ('id_salt', 'benchmark-salt')")
        store.upsert_profile_records(profiles, "gen")
        store.upsert_events(events, "gen")
        store.close()
        shutil.copy(root / "duckdb.duckdb", root / "spark.duckdb")
        print(
            f"generated {args.profiles:,} people: {len(profiles):,} profile records, "
            f"{len(events):,} events in {time.perf_counter() - t0:.1f} s"
        )
        engine = EngineSettings(kind="spark", master=args.master)
        t0 = time.perf_counter()
        spark_for(engine)
        start = time.perf_counter() - t0

        in_process, on_spark = _Timed(resolve), _Timed(identity_resolver(engine))
        duck_total, duck_store = _unify(root / "duckdb.duckdb", in_process)
        spark_total, spark_store = _unify(root / "spark.duckdb", on_spark)
        same = identity_data.snapshot(duck_store) == identity_data.snapshot(spark_store)
        nodes = duck_store.con.execute("SELECT count(*) FROM identity_edges").fetchall()[0][0]
        duck_store.close()
        spark_store.close()

    print(f"\nSpark master {args.master}; identity tables and profiles identical: {same}")
    print(f"({nodes:,} identity edges)\n")
    print("| full unify | in process (DuckDB) s | Spark s |\n|---|---:|---:|")
    print(f"| session start | - | {start:.1f} |")
    print(f"| resolution | {in_process.seconds:.1f} | {on_spark.seconds:.1f} |")
    print(f"| **unify** | **{duck_total:.1f}** | **{spark_total:.1f}** |")


if __name__ == "__main__":
    main()
