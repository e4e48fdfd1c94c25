"""Push throughput of the HubSpot sink against the emulator enforcing 190 requests per 10 s.

The bound: 190 requests / 10 s x 100 contacts per batch upsert = 1,900 contacts/s. We push
N profiles' traits (new contacts, upsert by email) and report contacts/s as a fraction of the
bound, plus how many 429s the emulator had to send (the target is none: the sink's rate budget
keeps it under the limit proactively).

    PYTHONPATH=.:plugins python benchmarks/hubspot_push.py [--profiles 60000]
"""

from __future__ import annotations

import argparse
import logging
import platform
import tempfile
import time
from pathlib import Path

from cdp_hubspot import SPEC
from cdp_hubspot.emulator import HubSpotEmulator
from connector.plugin.changes import Change, ChangeKind, OutcomeStatus, Recipient, TraitSpec
from connector.plugin.spec import EmulatorOptions
from connector.testing import make_context

LIMIT = 190
BOUND = LIMIT / 10 * 100  # contacts per second
TRAITS = [
    TraitSpec("churn_score", "number", "Churn score"),
    TraitSpec("value_tier", "enum", "Value tier", options=("gold", "silver", "bronze")),
    TraitSpec("clv_90d", "number", "CLV (90 days)"),
]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--profiles", type=int, default=60_000)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    with HubSpotEmulator(EmulatorOptions(limits="real"), per_ten_seconds=LIMIT) as emu:
        settings = {
            "access_token": "pat-bench",
            "base_url": emu.base_url,
            "requests_per_10s": LIMIT,
        }
        sink = SPEC.sink(settings, make_context(Path(tempfile.mkdtemp())))  # type: ignore[misc]
        sink.prepare(TRAITS, [])
        changes = [
            Change(
                ChangeKind.UPSERT,
                Recipient(f"p{i}", email=f"bench{i}@example.com"),
                f"traits:p{i}",
                str(i),
                traits={
                    "churn_score": i % 997 / 997,
                    "value_tier": ("gold", "silver", "bronze")[i % 3],
                    "clv_90d": i % 500,
                },
            )
            for i in range(args.profiles)
        ]
        emu.recorder.clear()
        # Start from an empty ten-second window, as a scheduled run would.
        time.sleep(10.5)
        started = time.perf_counter()
        ok = 0
        for start in range(0, len(changes), sink.batch_size("upsert")):
            outcomes = sink.apply(changes[start : start + sink.batch_size("upsert")])
            ok += sum(o.status == OutcomeStatus.OK for o in outcomes)
        elapsed = time.perf_counter() - started
        statuses = [e.status for e in emu.recorder.entries()]
    rate = ok / elapsed
    python = f"{platform.python_implementation()} {platform.python_version()}"
    print(f"machine: {platform.machine()} {python}")
    print(f"profiles pushed: {ok}/{args.profiles} in {elapsed:.1f}s")
    print(f"requests {len(statuses)}, 429s {statuses.count(429)}")
    print(f"throughput: {rate:.0f} contacts/s = {rate / BOUND:.2f} of the {BOUND:.0f}/s bound")


if __name__ == "__main__":
    main()
