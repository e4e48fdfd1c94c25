"""The whole run at scale: files in, files and Klaviyo out, per-stage seconds and peak RSS.

    PYTHONPATH=$PWD:$PWD/plugins python benchmarks/run_scale.py --profiles 100000 300000

Per size: profiles (JSON lines) and 10 events each (Parquet) are generated (``scale_data``); a
Klaviyo emulator with its limits off runs in a process of its own (so the connector, not the
rate limit, is measured, and the emulator's memory is not counted); the first run, then a run
after 1 % of the profiles changed, each run ``connector run`` in a fresh process. Reported per
run: each stage's seconds (the run record's own timings), the wall time of the process and its
peak resident memory (ru_maxrss). ``--json PATH`` appends the figures as JSON lines.

``--kill-mid-apply F`` also checks that a run killed while it applies loses and duplicates
nothing: after the first run, the same data is run again into a second workspace and files
destination, that run is killed (SIGKILL) once the files destination's journal lists a fraction
F of the first run's planned changes, a resume run follows, and the destination's rows are
compared with the first run's (``connector.testing.scale_kill``).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from connector.testing.scale_data import config_text, write_change, write_initial
from connector.testing.scale_kill import kill_mid_apply

REPO = Path(__file__).resolve().parents[1]
STAGES = ("pull", "unify", "model", "plan", "apply")
KEY = "pk_scale_benchmark_key"


def run_once(cfg: Path) -> dict[str, Any]:
    """One ``connector run`` in this process (the parent starts one process per run)."""
    from connector.config.loader import load_config
    from connector.pipeline.runner import run_pipeline
    from connector.workspace import Workspace

    start = time.perf_counter()
    ws = Workspace(load_config(cfg))
    try:
        summary = run_pipeline(ws)
    finally:
        ws.close()
    return {
        "status": summary.status,
        "stages": {k: summary.stages.get(k, {}).get("seconds") for k in STAGES},
        "cpu": {k: summary.stages.get(k, {}).get("cpu_seconds") for k in STAGES},
        "apply": {
            name: entry.get("seconds")
            for name, entry in summary.stages.get("apply", {}).items()
            if isinstance(entry, dict)
        },
        "counts": {k: v for k, v in summary.counts.items() if isinstance(v, int)},
        "wall": round(time.perf_counter() - start, 2),
        "rss_gb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2, 3),
    }


def child_command(cfg: Path) -> tuple[list[str], dict[str, str]]:
    """The command and environment of one run in a process of its own."""
    env = {**os.environ, "SCALE_KLAVIYO_KEY": KEY}
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), str(REPO / "plugins")])
    return [sys.executable, __file__, "--run-only", str(cfg)], env


def _child(cfg: Path) -> dict[str, Any]:
    command, env = child_command(cfg)
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"run failed ({done.returncode}):\n{done.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def _klaviyo() -> tuple[subprocess.Popen[str], str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), str(REPO / "plugins")])}
    proc = subprocess.Popen(
        [sys.executable, "-m", "connector", "emulate", "klaviyo", "--limits", "off"],
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    for line in proc.stdout:
        found = re.search(r"(http://127\.0\.0\.1:\d+)", line)
        if found:
            return proc, found.group(1)
    raise SystemExit("the Klaviyo emulator did not start")


def bench(
    profiles: int, root: Path, klaviyo: bool, kill_at: float | None = None
) -> list[dict[str, Any]]:
    t0 = time.perf_counter()
    write_initial(root / "data", profiles)
    print(f"{profiles:,} profiles generated in {time.perf_counter() - t0:.1f} s", flush=True)
    proc, url = _klaviyo() if klaviyo else (None, None)
    try:
        cfg = root / "connector.toml"
        cfg.write_text(config_text(root, url))
        rows = [{"profiles": profiles, "run": "first", **_child(cfg)}]
        print(json.dumps(rows[-1]), flush=True)
        if kill_at is not None:
            planned = int(rows[0]["counts"]["planned"])
            text = config_text(root).replace(str(root / "ws"), str(root / "kill" / "ws"))
            text = text.replace(str(root / "out"), str(root / "kill" / "out"))
            killed = kill_mid_apply(root, text, planned, kill_at, child_command, _child)
            rows.append({"profiles": profiles, "run": f"killed at {kill_at:.0%}", **killed})
            print(json.dumps(rows[-1]), flush=True)
        changed = write_change(root / "data", profiles)
        rows.append({"profiles": profiles, "run": f"1% changed ({changed:,})", **_child(cfg)})
        print(json.dumps(rows[-1]), flush=True)
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(timeout=30)
    return rows


def table(rows: list[dict[str, Any]]) -> str:
    head = "| profiles | run | " + " | ".join(STAGES) + " | total | peak RSS |"
    lines = [head, "|" + "---|" * (len(STAGES) + 4)]
    for r in rows:
        if "stages" not in r:
            continue
        secs = " | ".join(f"{r['stages'][s] or 0:.1f} s" for s in STAGES)
        rss = f"{r['rss_gb']:.2f} GB"
        lines.append(f"| {r['profiles']:,} | {r['run']} | {secs} | {r['wall']:.1f} s | {rss} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--profiles", type=int, nargs="+", default=[100_000])
    parser.add_argument("--no-klaviyo", action="store_true", help="files destination only")
    parser.add_argument("--dir", type=Path, help="work directory (default: a temporary one)")
    parser.add_argument("--json", type=Path, help="append the figures here as JSON lines")
    parser.add_argument(
        "--kill-mid-apply",
        type=float,
        metavar="FRACTION",
        help="also kill a first run (SIGKILL) when this fraction of it is applied, resume it, "
        "and count lost and duplicated rows in the files destination",
    )
    parser.add_argument("--run-only", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.run_only:
        print(json.dumps(run_once(args.run_only)))
        return
    rows: list[dict[str, Any]] = []
    for n in args.profiles:
        root = Path(tempfile.mkdtemp(prefix=f"scale{n}-", dir=args.dir))
        try:
            rows.extend(bench(n, root, not args.no_klaviyo, args.kill_mid_apply))
        finally:
            shutil.rmtree(root, ignore_errors=True)
    if args.json:
        with args.json.open("a") as fh:
            fh.writelines(json.dumps(r) + "\n" for r in rows)
    print(table(rows))


if __name__ == "__main__":
    main()
