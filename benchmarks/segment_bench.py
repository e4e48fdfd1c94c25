"""Segment plugin throughput: archive generation and pull, identify delivery to the emulator.

Run: PYTHONPATH=.:plugins python benchmarks/segment_bench.py [users] [events] [profiles]
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

from pydantic import SecretStr

from cdp_segment.emulator import SegmentEmulator
from cdp_segment.emulator.archive import write_archive
from cdp_segment.settings import SegmentSettings
from cdp_segment.sink import SegmentSink
from cdp_segment.source import SegmentSource
from connector.plugin.changes import Change, ChangeKind, Recipient
from connector.schema.records import validate_event
from connector.testing.context import make_context


def main() -> None:
    users = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
    events = int(sys.argv[2]) if len(sys.argv) > 2 else 200_000
    profiles = int(sys.argv[3]) if len(sys.argv) > 3 else 10_000
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        t = time.perf_counter()
        m = write_archive(root / "bucket", users=users, events=events, days=30, seed=1)
        gen = time.perf_counter() - t
        source = SegmentSource(
            SegmentSettings(archive_url=str(root / "bucket")), make_context(root)
        )
        t = time.perf_counter()
        n = sum(
            1
            for r in source.read(source.streams()[0], None)
            if validate_event(r, source="segment", region="US")
        )
        pull = time.perf_counter() - t
        print(
            f"archive: {m.lines} lines in {m.files} files written in {gen:.1f} s "
            f"({m.lines / gen:,.0f}/s); pulled+validated {n} events in {pull:.1f} s "
            f"({n / pull:,.0f}/s)"
        )
        with SegmentEmulator() as emu:
            settings = SegmentSettings(write_key=SecretStr("k"), base_url=emu.base_url)
            sink = SegmentSink(settings, make_context(root))
            changes = [
                Change(
                    ChangeKind.UPSERT,
                    Recipient(f"p{i}", ids={"segment_user_id": f"u{i}"}),
                    f"p{i}",
                    "d",
                    traits={"clv": i * 1.1, "tier": "gold"},
                )
                for i in range(profiles)
            ]
            t = time.perf_counter()
            for start in range(0, profiles, sink.batch_size("upsert")):
                sink.apply(changes[start : start + sink.batch_size("upsert")])
            took = time.perf_counter() - t
            sink.close()
            print(
                f"sink: {len(emu.messages)} identify calls in {emu.batches} batches, "
                f"{took:.1f} s ({profiles / took:,.0f}/s)"
            )


if __name__ == "__main__":
    main()
