"""Real-time segment latency: signed Segment events at a steady rate, into `connector listen`,
through `connector stream`, to the Klaviyo and Meta emulators (real rate limits).

Latency of a membership = the time the emulator finished the request that holds it (its own
request log) minus the moment the POST of the event that made the person qualify got its 200.
Each of `--people` people views coats at random moments; a person's third view puts them into
the real-time segment `count(coats views, 7d) >= 3` at both destinations.

    python benchmarks/realtime_latency.py                 # 200 events/s for 300 s
    python benchmarks/realtime_latency.py --seconds 60    # a shorter check
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import random
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote_plus

import httpx

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "plugins")]

from cdp_klaviyo.emulator import KlaviyoEmulator  # noqa: E402
from cdp_meta.emulator import MetaEmulator  # noqa: E402
from cdp_segment.webhook import sign  # noqa: E402
from connector.config import load_config  # noqa: E402
from connector.pipeline import Workspace, run_pipeline  # noqa: E402
from connector.sdk import EmulatorOptions  # noqa: E402

SECRET = "whsec-bench"  # noqa: S105 - the emulators' shared secret, not a credential
ENV = {"SEGMENT_HOOK": SECRET, "KLAVIYO_KEY": "pk_bench", "META_TOKEN": MetaEmulator.access_token}
HASH = re.compile(r"[0-9a-f]{64}")


def _config(root: Path, klaviyo: str, meta: str, port: int) -> Path:
    (root / "data" / "profiles").mkdir(parents=True)
    (root / "data" / "events").mkdir(parents=True)
    cfg = root / "connector.toml"
    cfg.write_text(f"""
[workspace]
path = ".connector"
[model]
engine = "rfm"
[model.core]
holdout_share = 0.0
[[model.core.rule_segments]]
id = "coats_intent"
name = "Coats intent"
realtime = true
expression = 'count(event = "product_viewed" and category = "coats", 7d) >= 3'
[stream]
flush_seconds = 2.0
[sources.shop]
plugin = "files"
path = "data"
[sources.segment]
plugin = "segment"
webhook_secret = {{ env = "SEGMENT_HOOK" }}
[destinations.klaviyo]
plugin = "klaviyo"
api_key = {{ env = "KLAVIYO_KEY" }}
base_url = "{klaviyo}"
segments = ["coats_intent"]
[destinations.meta]
plugin = "meta"
access_token = {{ env = "META_TOKEN" }}
ad_account_id = "act_1001"
base_url = "{meta}"
segments = ["coats_intent"]
""")
    return cfg


def _people(root: Path, n: int) -> list[str]:
    emails = [f"rt{i}@example.org" for i in range(n)]
    rows = [
        {
            "source_id": f"c{i}",
            "email": e,
            "updated_at": "2026-01-01T00:00:00Z",
            "consent": {"email": "granted", "ads": "granted"},
        }
        for i, e in enumerate(emails)
    ]
    text = "".join(json.dumps(r) + "\n" for r in rows)
    (root / "data" / "profiles" / "people.jsonl").write_text(text)
    return emails


def _spawn(cfg: Path, *args: str, wait_for: str) -> subprocess.Popen[str]:
    env = {**os.environ, **ENV, "PYTHONPATH": f"{REPO}{os.pathsep}{REPO / 'plugins'}"}
    proc = subprocess.Popen([sys.executable, "-m", "connector", *args, "--config", str(cfg)],
                            cwd=cfg.parent, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)  # fmt: skip
    assert proc.stdout is not None
    out = proc.stdout
    for line in out:
        if wait_for in line:
            threading.Thread(target=lambda: (out.read(), out.close()), daemon=True).start()
            return proc
    raise RuntimeError(f"connector {args[0]} exited before it was ready")


def _send(url: str, emails: list[str], rate: float, seconds: float, seed: int) -> dict[str, float]:
    """POST one signed view per 1/rate seconds; the 200 time of each person's third view."""
    rnd = random.Random(seed)
    total = int(rate * seconds)
    who = [rnd.randrange(len(emails)) for _ in range(total)]
    views: dict[int, int] = {}
    third: dict[int, int] = {}
    for n, p in enumerate(who):
        views[p] = views.get(p, 0) + 1
        if views[p] == 3:
            third[n] = p
    done: dict[str, float] = {}
    start = time.monotonic() + 0.5
    clock = time.time() - time.monotonic()

    def one(client: httpx.Client, n: int) -> None:
        delay = start + n / rate - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        p = who[n]
        msg = {
            "type": "track",
            "event": "Product Viewed",
            "userId": f"u{p}",
            "messageId": f"bench-{seed}-{n}",
            "timestamp": datetime.now(UTC).isoformat(),
            "context": {"traits": {"email": emails[p]}},
            "properties": {"category": "coats"},
        }
        body = json.dumps(msg).encode()
        headers = {"Content-Type": "application/json", "X-Signature": sign(SECRET.encode(), body)}
        resp = client.post(url, content=body, headers=headers)
        resp.raise_for_status()
        if n in third:
            done[emails[p]] = time.monotonic() + clock

    limits = httpx.Limits(max_connections=32, max_keepalive_connections=32)
    with httpx.Client(limits=limits, timeout=30) as client, ThreadPoolExecutor(24) as pool:
        list(pool.map(lambda n: one(client, n), range(total)))
    done["_achieved_rate"] = total / max(1e-9, time.monotonic() - start)
    return done


def _landed_klaviyo(base_url: str) -> dict[str, float]:
    state = httpx.get(f"{base_url}/__emulator__/state").json()
    email = {pid: p["email"] for pid, p in state["profiles"].items()}
    log = httpx.get(f"{base_url}/__emulator__/requests", params={"body": "1"}).json()["requests"]
    out: dict[str, float] = {}
    for r in log:
        if r["method"] != "POST" or not r["path"].endswith("/relationships/profiles"):
            continue
        if r["status"] >= 300 or not r.get("body"):
            continue
        end = r["time"] + r["duration_ms"] / 1000
        for item in json.loads(r["body"]).get("data", []):
            e = email.get(item.get("id"))
            if e and e not in out:
                out[e] = end
    return out


def _landed_meta(base_url: str, emails: list[str]) -> dict[str, float]:
    by_hash = {hashlib.sha256(e.encode()).hexdigest(): e for e in emails}
    log = httpx.get(f"{base_url}/__emulator__/requests", params={"body": "1"}).json()["requests"]
    out: dict[str, float] = {}
    for r in log:
        if r["method"] != "POST" or not r["path"].endswith("/users") or r["status"] >= 300:
            continue
        end = r["time"] + r["duration_ms"] / 1000
        text = unquote_plus(r.get("body") or "") + json.dumps(r["query"])  # form-encoded
        for h in HASH.findall(text):
            e = by_hash.get(h)
            if e and e not in out:
                out[e] = end
    return out


def _pct(values: list[float], share: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[max(0, math.ceil(share * len(ordered)) - 1)], 3)


def _report(name: str, sent: dict[str, float], landed: dict[str, float]) -> dict[str, Any]:
    lat = [landed[e] - t for e, t in sent.items() if e in landed]
    return {"destination": name, "memberships": len(sent), "landed": len(lat),
            "missing": len(sent) - len(lat), "p50": _pct(lat, 0.5), "p95": _pct(lat, 0.95),
            "p99": _pct(lat, 0.99), "max": round(max(lat), 3) if lat else None}  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rate", type=float, default=200.0, help="events per second")
    ap.add_argument("--seconds", type=float, default=300.0, help="how long to send")
    ap.add_argument("--people", type=int, default=0, help="default: rate * seconds / 4")
    ap.add_argument("--settle", type=float, default=30.0, help="seconds to wait after sending")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--json", type=Path, help="also write the figures here")
    args = ap.parse_args()
    people = args.people or max(10, int(args.rate * args.seconds / 4))
    root = Path(tempfile.mkdtemp(prefix="rt-latency-"))
    real = EmulatorOptions(limits="real")
    with KlaviyoEmulator(real) as klaviyo, MetaEmulator(real) as meta:
        port = _free_port()
        cfg = _config(root, klaviyo.base_url, meta.base_url, port)
        emails = _people(root, people)
        began = time.monotonic()
        ws = Workspace(load_config(cfg, env=ENV))
        try:
            first = run_pipeline(ws, confirm_creates=True)  # the first sync: lists, audiences
            if first.failures:
                print("first run:", "; ".join(first.failures), flush=True)
        finally:
            ws.close()
        print(f"first run: {people} people in {time.monotonic() - began:.1f} s", flush=True)
        listen = _spawn(cfg, "listen", "segment", "--port", str(port), wait_for="listening")
        stream = _spawn(cfg, "stream", wait_for="streaming as")
        try:
            sent = _send(f"http://127.0.0.1:{port}", emails, args.rate, args.seconds, args.seed)
            achieved = round(sent.pop("_achieved_rate"), 1)
            time.sleep(args.settle)
        finally:
            for proc in (stream, listen):
                proc.send_signal(signal.SIGTERM)
                proc.wait(60)
        figures = {"rate": args.rate, "achieved_rate": achieved, "seconds": args.seconds,
                   "people": people, "results": [
            _report("klaviyo", sent, _landed_klaviyo(klaviyo.base_url)),
            _report("meta", sent, _landed_meta(meta.base_url, emails))]}  # fmt: skip
    print(json.dumps(figures, indent=2))
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


if __name__ == "__main__":
    main()
