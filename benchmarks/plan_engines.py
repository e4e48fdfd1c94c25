"""The plan stage on DuckDB and on Spark local mode: the same desired state and ledger, timed.

    PYTHONPATH=$PWD python benchmarks/plan_engines.py [--profiles 100000] [--master local[2]]

A desired state of generated profiles (three scores, a tier, four segments) is planned against
a SQLite ledger twice: a first run (empty ledger: every profile an upsert, every member an add),
then, once the first run's changes are recorded, a second run after a tenth of the scores moved
and some memberships changed (upserts, adds, removes, and most keys unchanged). Each timing is
the plan (ledger copied, joins, numbering) plus reading every planned change back as apply
does; the Spark session's start is left out and printed apart. The two engines' changes are
compared, in order, before the figures are printed.
"""

from __future__ import annotations

import argparse
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from connector.config.models import EngineSettings
from connector.engine import plan_database, spark_for
from connector.plugin.changes import Recipient, SegmentRef, TraitSpec
from connector.state import Ledger, StateStore
from connector.sync.desired import DesiredState
from connector.sync.plan import DestinationPlan, plan_destination

SPECS = [
    TraitSpec("p_buy", "number", "Purchase propensity", precision=2),
    TraitSpec("churn_risk", "number", "Churn risk", precision=2),
    TraitSpec("clv", "number", "Predicted CLV", precision=0),
    TraitSpec("tier", "enum", "Tier", options=("low", "medium", "high")),
]
SEGMENTS = [SegmentRef(f"s{i}", f"Segment {i}") for i in range(4)]


def desired_state(n: int, seed: int) -> DesiredState:
    rng = np.random.default_rng(seed)
    state = DesiredState(trait_specs=SPECS, segments=SEGMENTS)
    p, churn, clv = rng.random(n), rng.random(n), rng.gamma(2.0, 80.0, n)
    tiers = np.array(["low", "medium", "high"])[np.digitize(clv, [100.0, 250.0])]
    member = rng.random((n, len(SEGMENTS))) < [0.4, 0.25, 0.1, 0.05]
    state.members = {s.id: set() for s in SEGMENTS}
    state.holdouts = {s.id: set() for s in SEGMENTS}
    for i in range(n):
        pid = f"p{i:08d}"
        state.recipients[pid] = Recipient(pid, email=f"{pid}@example.org")
        state.consent[pid] = {"email": "granted"}
        state.traits[pid] = {
            "p_buy": round(float(p[i]), 2),
            "churn_risk": round(float(churn[i]), 2),
            "clv": round(float(clv[i])),
            "tier": str(tiers[i]),
        }
        for j, seg in enumerate(SEGMENTS):
            if member[i, j]:
                state.members[seg.id].add(pid)
    return state


def timed(
    name: str, desired: DesiredState, ledger: Ledger, db: Any
) -> tuple[float, DestinationPlan, list[tuple[Any, ...]]]:
    start = time.perf_counter()
    plan = plan_destination(name, desired, ledger, db=db)
    read = [
        (c.kind.value, c.key, c.digest, sorted(c.traits.items()), c.unset)
        for _, changes in plan.by_kind()
        for c in changes
    ]
    return time.perf_counter() - start, plan, read


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--profiles", type=int, default=100_000)
    parser.add_argument("--master", default="local[2]")
    args = parser.parse_args()
    warnings.filterwarnings("ignore", category=FutureWarning)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        duck_settings = EngineSettings()
        spark_settings = EngineSettings(
            kind="spark", master=args.master, warehouse=str(root / "warehouse")
        )
        start = time.perf_counter()
        spark_for(spark_settings)
        print(f"Spark session start: {time.perf_counter() - start:.1f} s")
        engines: dict[str, Callable[[], Any]] = {
            "DuckDB": lambda: plan_database(duck_settings, root, "d"),
            f"Spark {args.master}": lambda: plan_database(spark_settings, root, "d"),
        }
        store = StateStore.for_workspace(root, None)
        ledger = Ledger(store)
        first = desired_state(args.profiles, seed=1)
        second = desired_state(args.profiles, seed=1)
        rng = np.random.default_rng(2)
        for i in rng.choice(args.profiles, args.profiles // 10, replace=False):
            pid = f"p{i:08d}"
            second.traits[pid] = {**second.traits[pid], "p_buy": round(float(rng.random()), 2)}
            second.members["s0"].symmetric_difference_update({pid})
        rows: list[str] = []
        for run, desired in (("first run", first), ("second run", second)):
            figures: dict[str, float] = {}
            reads: dict[str, list[tuple[Any, ...]]] = {}
            plans: list[DestinationPlan] = []
            for engine, make in engines.items():
                figures[engine], plan, reads[engine] = timed("d", desired, ledger, make())
                plans.append(plan)
            counts = plans[0].counts()
            if run == "first run":  # delivered: the second run plans against it
                for _, changes in plans[0].by_kind():
                    ledger.record("d", list(changes), "r1")
            for plan in plans:
                plan.close()
            duck_read, spark_read = reads.values()
            assert duck_read == spark_read, "the engines planned different changes"
            duck_s, spark_s = figures.values()
            rows.append(
                f"| plan, {run} ({counts['upsert']:,} upserts, {counts['add']:,} adds, "
                f"{counts['remove']:,} removes) | {duck_s:.1f} s | {spark_s:.1f} s |"
            )
        store.close()
    print(f"\n{args.profiles:,} profiles\n")
    print(f"| stage | DuckDB | Spark {args.master} |\n|---|---:|---:|")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
