"""Run the gauntlet (default and slow tests) once and write benchmarks/RELIABILITY.md from it.

    PYTHONPATH=.:plugins python benchmarks/reliability.py [--soak result.json]

The tests record their counts (kill points, faults, inputs, log lines, violations) in a
temporary directory named by ``GAUNTLET_FIGURES``; this script adds them up into the report.
``--soak`` takes the JSON that ``benchmarks/soak.py --out`` wrote for the full-size soak.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]


def _load(figs: Path, name: str) -> dict[str, Any]:
    path = figs / f"{name}.json"
    return json.loads(path.read_text()) if path.exists() else {}


def run_suite(figs: Path) -> tuple[int, float, str]:
    """Run the gauntlet; the summary line names any failing test."""
    env = {
        **os.environ,
        "GAUNTLET_FIGURES": str(figs),
        # the in-depth tests at four times CI's depth (800 consent runs, 300 histories, 300
        # inputs per parser), unless the caller says otherwise
        "GAUNTLET_DEPTH": os.environ.get("GAUNTLET_DEPTH", "4"),
        "PYTHONPATH": os.pathsep.join([str(REPO), str(REPO / "plugins")]),
    }
    started = time.perf_counter()
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "tests/gauntlet",
            "-q",
            "-p",
            "no:cacheprovider",
            "-m",
            "slow or not slow",
            "-n",
            "0",  # one process: the tests add their figures to shared JSON files
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    (figs / "pytest.log").write_text(done.stdout + done.stderr)
    lines = done.stdout.strip().splitlines()
    failed = [ln.split(" - ")[0] for ln in lines if ln.startswith("FAILED")]
    summary = lines[-1] + (f"; failed: {', '.join(failed)}" if failed else "")
    return done.returncode, time.perf_counter() - started, summary


def render(figs: Path, code: int, seconds: float, summary: str, soak: dict[str, Any]) -> str:
    crash, faults, token = _load(figs, "crash"), _load(figs, "faults"), _load(figs, "token_expiry")
    hostile, pii, consent = _load(figs, "hostile"), _load(figs, "pii"), _load(figs, "consent")
    scaled = _load(figs, "soak").get("scaled", {})
    kills = {k: v for k, v in crash.items() if k != "events"}
    lines = [
        "# Reliability gauntlet: figures from one run",
        "",
        f"`python benchmarks/reliability.py` on {platform.machine()} / Python "
        f"{platform.python_version()}, {os.cpu_count()} cores shared with other work: the "
        f"gauntlet suite (default and slow tests) took {seconds:.0f} s and ended "
        f"`{summary}` (exit {code}). Each figure below fails its test when it is not 0.",
        "",
        "## 1. Crash and resume",
        "",
        "Each kill is a `python -m connector run` killed by `CONNECTOR_CRASH_AT=<point>[@n]` "
        "(os._exit, like SIGKILL) or by SIGKILL when the emulators saw a given request; then "
        "the pipeline runs to its fixed point and every destination (Klaviyo lists and "
        "properties, HubSpot lists and properties, Meta audience, Google Customer Match list, "
        "Segment identify traits, files sink) is compared "
        "with an uncrashed reference by email, and the ledger with every destination.",
        "",
        "| kill point | tried | killed | lost | duplicated |",
        "|---|---|---|---|---|",
    ]
    for name, v in sorted(kills.items()):
        lines.append(
            f"| {name} | {v.get('tried', 0)} | {v.get('killed', 0)} | {v.get('lost', 0)} | "
            f"{v.get('duplicated', 0)} |"
        )
    tried = sum(v.get("tried", 0) for v in kills.values())
    lost = sum(v.get("lost", 0) for v in kills.values())
    dup = sum(v.get("duplicated", 0) for v in kills.values())
    ev = crash.get("events", {})
    lines += [
        "",
        f"**{tried} kills at {len(kills)} points: {lost} lost, {dup} duplicated memberships, "
        f"traits or rows; events {ev.get('lost', 0)} lost, {ev.get('duplicated', 0)} "
        "duplicated.**",
        "",
        "## 2. Fault matrix",
        "",
        "Per platform (HubSpot, Klaviyo, Meta, Google, Segment), faults on its pull and push "
        "endpoints: 429 storms with and without Retry-After, 503 and 500 bursts, timeouts past "
        "the client timeout, connection resets, truncated bodies, HTML 502 pages, 2xx HTML "
        "captive-portal pages, 2xx cut-off bodies, slow answers; plus a token expiring mid-run, "
        "and a portal in front of one destination for a whole run (the others must land in "
        "full). End state compared with the unfaulted reference.",
        "",
        "| platform | cases | faults injected | end-state mismatches |",
        "|---|---|---|---|",
    ]
    for name, v in sorted(faults.items()):
        lines.append(
            f"| {name} | {v.get('cases', 0)} | {v.get('injected', 0)} | {v.get('mismatches', 0)} |"
        )
    lines += ["", "Token expiring mid-run (requests the platform saw after its first 401):", ""]
    for name, v in sorted(token.items()):
        lines.append(f"- {name}: {v.get('requests_after_401')} (limit 3)")
    lines += [
        "",
        "## 3. Hostile input",
        "",
        "Every parser of outside data, and the input classes issue 20 added: timestamps at and "
        "beyond the datetime range with offsets, JSON nesting depth (files JSONL and the Segment "
        "archive), encodings (Latin-1, BOM, invalid bytes, full width, IDN), CSV stray quotes, "
        "gzip and Parquet bombs, truncated Segment archive files. A crash is any outcome other "
        "than a record, a quarantined record with a reason, or a clear configuration error.",
        "",
        "| parser | inputs tried | crashes |",
        "|---|---|---|",
    ]
    for name, v in sorted(hostile.items()):
        lines.append(f"| {name} | {v.get('inputs', 0)} | {v.get('crashes', 0)} |")
    lines += _webhook_lines(_load(figs, "webhook"))
    scan, red = pii.get("scan", {}), pii.get("redactor", {})
    lines += [
        "",
        "## 4. Secrets and PII",
        "",
        f"{scan.get('log_lines', 0)} JSON log lines and {scan.get('texts', 0)} texts "
        f"({scan.get('characters', 0):,} characters: stdout and stderr of "
        f"{scan.get('commands', 0)} commands (run with text and JSON logs, runs, runs show, "
        "segments, models show, report, profiles explain, plan, check, plugins); state.db "
        "tables; the HTML report and every workspace file but the data store) scanned for the "
        "three tokens, their base64 and partial echoes, and every email (non-ASCII, IDN and "
        "punycode ones included) and phone of the scenario: "
        f"**{scan.get('leaks', 0)} leaks**. The redactor alone, on {red.get('cases', 0)} "
        "platform-style texts (property tests included): "
        f"**{red.get('leaks', 0)} leaks, {red.get('false_positives', 0)} dates, day folders "
        "or ids masked**. state.db and data.duckdb are 0600, the workspace 0700.",
        "",
        "## 5. Consent",
        "",
        "Rows by channel/policy: random runs of the planner and apply engine flipping consent "
        "and membership, crashing mid-apply. Row `histories/all destinations`: random "
        "multi-source consent histories (missing and equal timestamps, conflicting sources) "
        "through the data store and unify into every destination's declared consent gates "
        "(Klaviyo, HubSpot, Meta, Google, Segment, files); a violation is an add, a membership "
        "or traits held for anyone whose latest or undated statement is a denial.",
        "",
        "| channel/policy | runs | adds | violations |",
        "|---|---|---|---|",
    ]
    for name, v in sorted(consent.items()):
        lines.append(
            f"| {name} | {v.get('runs', 0)} | {v.get('adds', 0)} | {v.get('violations', 0)} |"
        )
    lines += _erasure_lines(_load(figs, "erasure"), _load(figs, "erasure_kills"))
    lines += ["", "## 7. Soak", ""]
    for label, res in (
        ("full size (benchmarks/soak.py)", soak),
        ("scaled down (slow test)", scaled),
    ):
        if not res:
            continue
        samples = res.get("samples", [])
        faulted = sum(1 for s in samples if s.get("faults")) if samples else res["runs"]
        n_clean = len(samples) - faulted if samples else 0
        clean = f" then {n_clean} clean" if n_clean > 0 else ""
        lines.append(
            f"- {label}: {res['profiles']:,} profiles, {faulted} runs with "
            f"{res['fault_rate']:.0%} injected faults{clean} "
            f"({res.get('faults_injected', 0)} faults fired) "
            f"against emulators enforcing real limits, {res['seconds']:.0f} s; end-state "
            f"mismatches {res['mismatches']}, consent violations {res['consent_violations']}, "
            f"pending left {res['pending_left']}; memory growth between steady runs "
            f"{res['traced_growth_mb']} MB traced, {res['rss_growth_mb']} MB RSS."
        )
        for s in res.get("samples", []):
            lines.append(
                f"  - run {s['run']} ({'faults' if s['faults'] else 'clean'}): {s['status']}, "
                f"{s['planned']} planned, {s['applied']} applied, {s['seconds']} s, "
                f"RSS {s['rss_mb']} MB, traced {s['traced_mb']} MB"
            )
    lines += _live_lines(_load(figs, "live"))
    return "\n".join(lines) + "\n"


def _live_lines(live: dict[str, Any]) -> list[str]:
    """Live accounts: one row per platform whose emulator was mutated while the connector pulled
    (every key of the section, whatever figures it recorded)."""
    if not live:
        return []
    names = sorted({k for v in live.values() for k in v if k != "mutations"})
    lines = [
        "",
        "## 8. Live accounts",
        "",
        "While the connector pulled over several runs, a mutator thread edited, archived, merged "
        "and back-dated records through each platform's official SDK; afterwards the store is "
        "compared with the emulator's truth and every destination is searched for people who "
        "were deleted, archived or merged away.",
        "",
        "| platform | mutations | " + " | ".join(names) + " |",
        "|---|---|" + "---|" * len(names),
    ]
    for key, v in sorted(live.items()):
        cells = " | ".join(str(v.get(n, "")) for n in names)
        lines.append(f"| {key} | {v.get('mutations', 0)} | {cells} |")
    return lines


def _erasure_lines(erasure: dict[str, Any], kills: dict[str, Any]) -> list[str]:
    """Privacy erasure: requests, destinations cleared, resurrections, leaks, kills."""
    lines = [
        "",
        "## 6. Erasure",
        "",
        "`connector forget --email` for a person in every destination (Klaviyo, HubSpot, Meta, "
        "Google, Segment, files), then runs; leaks are the raw email, phone and source id and "
        "the hashes Meta and Google receive, found in any data store or state store table, the "
        "raw store files, reports, logs, output files, lists or audiences. A resurrection is a "
        "run after the erasure in which the person, pulled again from the source, is in any "
        "list or audience.",
        "",
        "| scenario | requests | destinations cleared | resurrections | leaks |",
        "|---|---|---|---|---|",
    ]
    for name, v in sorted(erasure.items()):
        lines.append(
            f"| {name} | {v.get('requests', 0)} | {v.get('destinations cleared', 0)} | "
            f"{v.get('resurrections', 0)} | {v.get('leaks', 0)} |"
        )
    killed = sum(v.get("killed", 0) for v in kills.values())
    differs = sum(v.get("differs", 0) for v in kills.values())
    leaks = sum(v.get("leaks", 0) for v in kills.values())
    lines += [
        "",
        f"**Kills during an erasure: {killed} at {len(kills)} points "
        f"({', '.join(sorted(kills))}); end states differing from the uncrashed erasure "
        f"{differs}, leaks {leaks}.**",
    ]
    return lines


def _webhook_lines(webhook: dict[str, Any]) -> list[str]:
    """The Segment webhook over raw sockets: framing refused unread, slow clients capped."""
    if not webhook:
        return []
    framing = webhook.get("framing", {})
    lines = [
        "",
        f"Segment webhook, raw sockets: {framing.get('cases', 0)} unusable framings "
        "(negative, garbage, huge, conflicting Content-Length; Transfer-Encoding) each answered "
        "4xx before a byte of body was read: **"
        f"{framing.get('unbounded_reads', 0)} unbounded reads**.",
    ]
    for name, v in sorted(webhook.items()):
        if name.startswith("dripping"):
            lines.append(
                f"- {name}: a byte at a time, each within the read timeout: "
                f"{v.get('clients', 0)} client(s), held past the request deadline: "
                f"**{v.get('held', 0)}**"
            )
        elif name != "framing":
            lines.append(
                f"- {name}: {v.get('clients', 0)} stalled clients in {v.get('cases', 0)} case(s), "
                f"threads beyond the connection cap: **{v.get('threads_over_cap', 0)}**"
            )
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--soak", type=Path, default=None)
    ap.add_argument("--figures", type=Path, default=None, help="reuse figures, skip the suite")
    args = ap.parse_args()
    soak = json.loads(args.soak.read_text()) if args.soak else {}
    if args.figures:
        figs, code, seconds, summary = args.figures, 0, 0.0, "(figures reused)"
    else:
        figs = Path(tempfile.mkdtemp(prefix="gauntlet-"))
        code, seconds, summary = run_suite(figs)
    out = REPO / "benchmarks" / "RELIABILITY.md"
    out.write_text(render(figs, code, seconds, summary, soak))
    print(out.read_text())


if __name__ == "__main__":
    main()
