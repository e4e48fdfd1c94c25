"""Push throughput of the Klaviyo sink against the emulator's real (documented) rate limits.

Two phases, both through the official SDK and the plugin's sink, emulator at ``limits="real"``:

1. traits: N profiles (known Klaviyo ids) upserted through bulk import jobs; reports profiles/s,
   jobs and requests used (the bound here is payload processing, not the 10/s job limit);
2. lists: the same N profiles added to L lists, 1,000 ids per call; the list-membership policy
   allows 10 calls/s and 150 calls/min, so the fastest schedule for C calls (C <= 150) takes
   ``(C - 1) // 10`` seconds from the first call to the last. Reported: that bound divided by the
   measured first-to-last span (from the emulator's request log) -- the fraction of the bound.

Usage: PYTHONPATH=.:plugins python benchmarks/klaviyo_push.py [--profiles 30000] [--lists 5]
"""

from __future__ import annotations

import argparse
import json
import logging
import platform
import tempfile
import time
from pathlib import Path

from cdp_klaviyo import SPEC
from cdp_klaviyo.emulator import KlaviyoEmulator
from cdp_klaviyo.limits import ENDPOINT_POLICIES, LIST_MEMBERS_PER_CALL
from connector.plugin.changes import Change, ChangeKind, Recipient, SegmentRef
from connector.plugin.spec import EmulatorOptions
from connector.testing.context import make_context


def _chunks(changes, size):
    for i in range(0, len(changes), size):
        yield changes[i : i + size]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--profiles", type=int, default=30_000)
    parser.add_argument("--lists", type=int, default=5)
    args = parser.parse_args()
    logging.getLogger("urllib3").setLevel(logging.ERROR)
    policy = next(p for p in ENDPOINT_POLICIES if p.name == "list_members")

    with (
        KlaviyoEmulator(EmulatorOptions(limits="real", seed=1)) as emu,
        tempfile.TemporaryDirectory() as tmp,
    ):
        emu.seed({"profiles": args.profiles})
        people = sorted(emu.store.profiles.values(), key=lambda p: p["id"])
        recipients = [
            Recipient(f"p{i}", p.get("email"), p.get("phone_number"), {"klaviyo_id": p["id"]})
            for i, p in enumerate(people)
        ]
        ctx = make_context(Path(tmp))
        sink = SPEC.sink(
            {"api_key": "pk_bench", "base_url": emu.base_url, "poll_interval": 0.05}, ctx
        )
        segments = [SegmentRef(f"s{n}", f"Bench {n}") for n in range(args.lists)]
        sink.prepare([], segments)

        upserts = [
            Change(
                ChangeKind.UPSERT,
                r,
                f"t:{r.profile_id}",
                "d",
                traits={"churn_risk": (i % 97) / 97, "clv_90d": i % 500, "rfm_segment": "loyal"},
            )
            for i, r in enumerate(recipients)
        ]
        start = time.perf_counter()
        for batch in _chunks(upserts, sink.batch_size("upsert")):
            assert all(o.status == "ok" for o in sink.apply(batch))
        traits_s = time.perf_counter() - start
        job_requests = [
            r for r in emu.recorder.entries() if r.path.startswith("/api/profile-bulk-import-jobs")
        ]

        adds = [
            Change(ChangeKind.ADD, r, f"{s.id}:{r.profile_id}", "1", segment=s)
            for s in segments
            for r in recipients
        ]
        mark = time.time()
        start = time.perf_counter()
        for batch in _chunks(adds, sink.batch_size("add")):
            assert all(o.status == "ok" for o in sink.apply(batch))
        lists_s = time.perf_counter() - start
        calls = [
            r
            for r in emu.recorder.entries()
            if r.time >= mark and r.path.endswith("/relationships/profiles")
        ]
        throttled = sum(1 for r in emu.recorder.entries() if r.status == 429)
        span = max(r.time for r in calls) - min(r.time for r in calls)
        n = len(calls)
        bound = (
            ((n - 1) // policy.burst) * 1.0
            if n <= policy.steady
            else ((n - 1) // policy.steady) * 60.0
        )
        state = emu.snapshot()
        members = sum(len(x["members"]) for x in state["lists"].values())

    result = {
        "machine": f"CPython {platform.python_version()} {platform.machine()}",
        "profiles": args.profiles,
        "traits": {
            "seconds": round(traits_s, 2),
            "profiles_per_s": round(args.profiles / traits_s),
            "jobs": len(state["jobs"]),
            "job_requests": len(job_requests),
        },
        "lists": {
            "memberships": members,
            "calls": n,
            "ids_per_call": LIST_MEMBERS_PER_CALL,
            "seconds_wall": round(lists_s, 2),
            "first_to_last_call_s": round(span, 2),
            "bound_s": bound,
            "memberships_per_s": round(members / max(lists_s, 1e-9)),
            "fraction_of_bound": round(bound / span, 3) if span else None,
        },
        "throttled_429": throttled,
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
