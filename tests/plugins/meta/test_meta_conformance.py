"""The core conformance suite, applied to the Meta audience sink."""

from __future__ import annotations

from typing import Any

from cdp_meta import SPEC as META
from cdp_meta.emulator import MetaEmulator
from connector.plugin.changes import Change, ChangeKind, Recipient, SegmentRef
from connector.testing.conformance import ConformanceTarget, PluginConformance

SEGMENT = SegmentRef("high_value", "High value")


def _changes(n: int) -> list[Change]:
    return [
        Change(
            ChangeKind.ADD,
            Recipient(f"c{i}", email=f"conf{i}@example.com", phone=f"+4474001{i:05d}"),
            f"m:high_value:c{i}",
            "1",
            segment=SEGMENT,
        )
        for i in range(n)
    ]


def _meta_settings(base_url: str) -> dict[str, Any]:
    return {
        "ad_account_id": "111",
        "access_token": MetaEmulator.access_token,
        "base_url": base_url,
        "max_attempts": 3,
        "max_retry_seconds": 20,
    }


def _meta_refuse(emulator: Any, settings: dict[str, Any]) -> dict[str, Any]:
    return {**settings, "access_token": "revoked-meta-token"}


def _meta_state(state: dict[str, Any]) -> Any:
    return sorted(
        (a["name"], sorted(sorted(m.items()) for m in a["members"]))
        for a in state["audiences"].values()
    )


class TestMetaConformance(PluginConformance):
    target = ConformanceTarget(
        spec=META,
        settings=_meta_settings,
        refuse=_meta_refuse,
        segments=(SEGMENT,),
        changes=_changes,
        comparable=_meta_state,
    )
