"""The core conformance suite, applied to the files plugin (it has no emulator)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cdp_files import SPEC
from connector.plugin.changes import SegmentRef, TraitSpec
from connector.testing import builders
from connector.testing.conformance import ConformanceTarget, conformance_suite


def _seed(root: Path, profiles: list[dict[str, Any]], events: list[dict[str, Any]]) -> None:
    # dated before the records' marks, so a re-read from the mark filters by record
    builders.write_jsonl(root / "profiles" / "people.jsonl", profiles, modified=builders.EPOCH)
    builders.write_jsonl(root / "events" / "orders.jsonl", events, modified=builders.EPOCH)


TestFilesConformance = conformance_suite(
    ConformanceTarget(
        spec=SPEC,
        settings=lambda directory: {"path": directory, "batch_size": 7},
        seed=_seed,
        traits=(TraitSpec("score", "number", "Score"), TraitSpec("tier", "enum", "Tier", ("a",))),
        segments=(SegmentRef("seg-vip", "VIP"),),
    )
)
