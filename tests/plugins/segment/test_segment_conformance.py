"""The core conformance suite, applied to the Segment plugin's identify sink.

The Segment sources read an S3 archive or a webhook spool, not the emulator, so the suite's
source checks skip here; the archive tests in this folder cover those promises.
"""

from __future__ import annotations

from typing import Any

from cdp_segment import SPEC
from connector.plugin.changes import Change, ChangeKind, Recipient, TraitSpec
from connector.testing.conformance import ConformanceTarget, PluginConformance


def _settings(base_url: str) -> dict[str, Any]:
    return {
        "write_key": "conformance-write-key",
        "base_url": base_url,
        "max_attempts": 3,
        "max_retry_seconds": 5,
    }


def _refuse(emulator: Any, settings: dict[str, Any]) -> dict[str, Any]:
    emulator.write_keys = {"the-only-valid-key"}
    return settings


def _changes(n: int) -> list[Change]:
    return [
        Change(
            ChangeKind.UPSERT,
            Recipient(f"c{i}", email=f"conf{i}@example.com", ids={"segment_user_id": f"u{i}"}),
            f"t:c{i}",
            f"d{i}",
            traits={"score": i / 10},
        )
        for i in range(n)
    ]


def _comparable(state: dict[str, Any]) -> Any:
    return {k: v for k, v in state.items() if k in ("profiles", "identify")}


class TestSegmentConformance(PluginConformance):
    target = ConformanceTarget(
        spec=SPEC,
        settings=_settings,
        refuse=_refuse,
        traits=(TraitSpec("score", "number", "Score"),),
        changes=_changes,
        comparable=_comparable,
        fault_path="/v1/batch",
        source_uses_emulator=False,
    )
