"""Soak: the full pipeline over N profiles, run after run, with real limits and injected faults.

Profiles and orders come from the files source (JSONL); traits and lists go to the Klaviyo
emulator and an ad audience to the Meta emulator, both enforcing their documented rate limits
(``limits="real"``) and failing ``--fault-rate`` of requests (503s, 429s with and without
Retry-After, connection resets, truncated bodies); the files sink gets everything too. Every run
is in this process, so the process's peak RSS and tracemalloc's traced memory are sampled after
each run: memory that grows run over run is a leak.

Between runs ~1% of profiles change (new orders, a consent flip), so later runs carry real work.
After the last run the faults stop, one clean run settles, and every destination is compared with
the desired state (the ledger, and the data store's consented tier members).

    PYTHONPATH=.:plugins python benchmarks/soak.py --profiles 200000 --runs 4
"""

from __future__ import annotations

import argparse
import gc
import json
import random
import resource
import sys
import time
import tracemalloc
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "plugins")]

import httpx  # noqa: E402

from cdp_klaviyo.emulator import KlaviyoEmulator  # noqa: E402
from cdp_meta.emulator import MetaEmulator  # noqa: E402
from connector.config import load_config  # noqa: E402
from connector.pipeline import Workspace, run_pipeline  # noqa: E402
from connector.plugin.spec import EmulatorOptions  # noqa: E402

META_TOKEN = MetaEmulator.access_token


def _faults(rate: float) -> list[dict[str, Any]]:
    share = rate / 5
    return [
        {"path": "*", "status": 503, "rate": share},
        {"path": "*", "status": 429, "rate": share, "retry_after": 1},
        {"path": "*", "status": 429, "rate": share},
        {"path": "*", "kind": "reset", "rate": share},
        {"path": "*", "kind": "truncate", "rate": share},
    ]


def write_people(root: Path, n: int, run: int, rng: random.Random) -> None:
    prof, ev = root / "data" / "profiles", root / "data" / "events"
    prof.mkdir(parents=True, exist_ok=True)
    ev.mkdir(parents=True, exist_ok=True)
    if run == 0:
        with (prof / "people.jsonl").open("w") as fh:
            for i in range(n):
                consent = "granted" if i % 3 else "denied"
                fh.write(
                    json.dumps(
                        {
                            "source_id": f"c{i}",
                            "email": f"soak{i}@example.org",
                            "first_name": f"P{i}",
                            "updated_at": "2024-01-01T00:00:00Z",
                            "consent": {"email": consent, "ads": consent},
                        }
                    )
                    + "\n"
                )
        with (ev / "orders.jsonl").open("w") as fh:
            for i in range(n):
                for k in range(1 + i % 3):
                    fh.write(
                        json.dumps(
                            {
                                "source_event_id": f"o{i}-{k}",
                                "type": "order_completed",
                                "occurred_at": (
                                    f"2024-{1 + (i + k) % 12:02d}-{1 + i % 27:02d}T10:00:00Z"
                                ),
                                "email": f"soak{i}@example.org",
                                "revenue": 10 + (i * 7 + k * 13) % 300,
                                "currency": "GBP",
                            }
                        )
                        + "\n"
                    )
        return
    changed = rng.sample(range(n), max(1, n // 100))
    with (prof / f"changes{run}.jsonl").open("w") as fh:
        for i in changed:
            flip = rng.choice(["granted", "denied"])
            fh.write(
                json.dumps(
                    {
                        "source_id": f"c{i}",
                        "email": f"soak{i}@example.org",
                        "updated_at": f"2025-{run:02d}-01T00:00:00Z",
                        "consent": {"email": flip, "ads": flip},
                    }
                )
                + "\n"
            )
    with (ev / f"orders{run}.jsonl").open("w") as fh:
        for i in changed:
            fh.write(
                json.dumps(
                    {
                        "source_event_id": f"n{run}-{i}",
                        "type": "order_completed",
                        "occurred_at": f"2025-{run:02d}-01T10:00:00Z",
                        "email": f"soak{i}@example.org",
                        "revenue": 500,
                        "currency": "GBP",
                    }
                )
                + "\n"
            )


def write_config(root: Path, klaviyo: str, meta: str) -> Path:
    cfg = root / "connector.toml"
    cfg.write_text(
        f"""
[workspace]
path = ".connector"

[model]
as_of = "2026-01-01"
engine = "rfm"  # the checks compare RFM tiers

[sync]
retry_rounds = 3
max_first_creates = 100000000  # the scenario creates its people on purpose

[sources.shop]
plugin = "files"
path = "data"
lookback = "1h"

[destinations.klaviyo]
plugin = "klaviyo"
api_key = {{ env = "SOAK_KLAVIYO_KEY" }}
base_url = "{klaviyo}"
poll_interval = 0.2
segments = ["rfm_high", "rfm_medium"]
timeout = 10

[destinations.meta]
plugin = "meta"
access_token = {{ env = "SOAK_META_TOKEN" }}
ad_account_id = "act_1001"
base_url = "{meta}"
segments = ["rfm_high"]
timeout = 10

[destinations.export]
plugin = "files"
path = "out"
"""
    )
    return cfg


def _rss_mb() -> float:
    """Current resident set size (Linux /proc), falling back to the peak."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def check_end_state(root: Path, klaviyo: KlaviyoEmulator, meta: MetaEmulator) -> dict[str, int]:
    """Destinations against the data store's desired members (consented tier members)."""
    import duckdb

    con = duckdb.connect(str(root / ".connector" / "data.duckdb"), read_only=True)
    try:
        rows = con.execute("SELECT profile_id, email, consent_email, consent_ads FROM profiles")
        people = {pid: (email, ce, ca) for pid, email, ce, ca in rows.fetchall()}
    finally:
        con.close()
    import sqlite3

    db = sqlite3.connect(root / ".connector" / "state.db")
    ledger = db.execute("SELECT destination, segment_id, profile_id, digest FROM ledger").fetchall()
    db.close()
    pending = sum(1 for r in ledger if r[3] == "pending")
    kl = httpx.get(f"{klaviyo.base_url}/__emulator__/state", timeout=120).json()
    emails = {pid: p["email"] for pid, p in kl["profiles"].items()}
    lists = {lst["name"]: {emails[m] for m in lst["members"]} for lst in kl["lists"].values()}
    want: dict[str, set[str]] = {}
    for dest, seg, pid, _d in ledger:
        if dest == "klaviyo" and seg:
            want.setdefault(seg, set()).add(people[pid][0])
    names = {"rfm_high": "CDP: High value", "rfm_medium": "CDP: Medium value"}
    mismatches = sum(len(lists.get(names[s], set()) ^ m) for s, m in want.items())
    denied = {e for e, ce, _ca in people.values() if ce != "granted"}
    violations = sum(len(members & denied) for members in lists.values())
    aud = httpx.get(f"{meta.base_url}/__emulator__/state", timeout=120).json()["audiences"]
    meta_members = sum(a["member_count"] for a in aud.values())
    meta_ledger = sum(1 for r in ledger if r[0] == "meta" and r[1])
    mismatches += abs(meta_members - meta_ledger)
    return {
        "mismatches": mismatches,
        "consent_violations": violations,
        "pending_left": pending,
        "klaviyo_list_members": sum(len(v) for v in lists.values()),
        "meta_audience_members": meta_members,
    }


def soak(profiles: int, runs: int, fault_rate: float, root: Path, seed: int = 5) -> dict[str, Any]:
    rng = random.Random(seed)
    env = {"SOAK_KLAVIYO_KEY": "pk_soak_bench", "SOAK_META_TOKEN": META_TOKEN}
    samples: list[dict[str, Any]] = []
    injected = 0
    started = time.perf_counter()
    tracemalloc.start()
    with (
        KlaviyoEmulator(EmulatorOptions(limits="real", seed=seed)) as klaviyo,
        MetaEmulator(EmulatorOptions(limits="real", seed=seed)) as meta,
    ):
        cfg = write_config(root, klaviyo.base_url, meta.base_url)
        for run in range(runs + 1):
            last = run == runs
            write_people(root, profiles, run, rng)
            for emu in (klaviyo, meta):
                fired = httpx.get(f"{emu.base_url}/__emulator__/faults").json()["rules"]
                injected += sum(r["fired"] for r in fired)
                rules = [] if last else _faults(fault_rate)
                httpx.post(f"{emu.base_url}/__emulator__/faults", json={"rules": rules})
            t0 = time.perf_counter()
            ws = Workspace(load_config(cfg, env=env))
            try:
                summary = run_pipeline(ws)
            finally:
                ws.close()
            gc.collect()
            current, _peak = tracemalloc.get_traced_memory()
            samples.append(
                {
                    "run": run,
                    "faults": not last,
                    "status": summary.status,
                    "seconds": round(time.perf_counter() - t0, 1),
                    "planned": summary.counts.get("planned", 0),
                    "applied": summary.counts.get("applied", 0),
                    "retryable": summary.counts.get("retryable", 0),
                    "rss_mb": round(_rss_mb(), 1),
                    "traced_mb": round(current / 2**20, 1),
                }
            )
            print(json.dumps(samples[-1]), flush=True)
        end = check_end_state(root, klaviyo, meta)
    tracemalloc.stop()
    # growth: traced memory after the last faulted run vs after the second run (the first run
    # builds caches and the models; later runs must not keep adding)
    steady = samples[1:-1] or samples
    return {
        "profiles": profiles,
        "runs": len(samples),
        "fault_rate": fault_rate,
        "seconds": round(time.perf_counter() - started, 1),
        "samples": samples,
        "traced_growth_mb": round(steady[-1]["traced_mb"] - steady[0]["traced_mb"], 1),
        "rss_growth_mb": round(steady[-1]["rss_mb"] - steady[0]["rss_mb"], 1),
        "faults_injected": injected,
        **end,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--profiles", type=int, default=200_000)
    ap.add_argument("--runs", type=int, default=3, help="faulted runs (a clean one follows)")
    ap.add_argument("--fault-rate", type=float, default=0.05)
    ap.add_argument("--dir", type=Path, default=None, help="workspace to keep (default: temp)")
    ap.add_argument("--out", type=Path, default=None, help="write the result JSON here")
    args = ap.parse_args()
    import shutil
    import tempfile

    root = args.dir or Path(tempfile.mkdtemp(prefix="soak-"))
    try:
        result = soak(args.profiles, args.runs, args.fault_rate, root)
    finally:
        if args.dir is None:  # a 200k-profile workspace is ~0.5 GB: only --dir keeps one
            shutil.rmtree(root, ignore_errors=True)
    text = json.dumps(result, indent=1)
    print(text)
    if args.out:
        args.out.write_text(text)


if __name__ == "__main__":
    main()
