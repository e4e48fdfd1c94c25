"""The core conformance suite, applied to the HubSpot plugin."""

from __future__ import annotations

from typing import Any

from hubspot_helpers import TOKEN, member, upsert

from cdp_hubspot import SPEC
from connector.plugin.changes import Change, ChangeKind, SegmentRef, TraitSpec
from connector.testing.conformance import ConformanceTarget, PluginConformance

SEGMENT = SegmentRef("seg-vip", "VIP")


def _settings(base_url: str) -> dict[str, Any]:
    return {
        "access_token": TOKEN,
        "base_url": base_url,
        "retry_base_seconds": 0.01,
        "max_attempts": 4,
        "search_requests_per_second": 50,
    }


def _refuse(emulator: Any, settings: dict[str, Any]) -> dict[str, Any]:
    emulator.revoked_tokens.add("pat-revoked")
    return {**settings, "access_token": "pat-revoked"}


def _changes(n: int) -> list[Change]:
    ups = [
        upsert(f"c{i}", f"conf{i}@example.com", {"score": i / 10, "tier": "a" if i % 2 else "b"})
        for i in range(n)
    ]
    adds = [
        member(ChangeKind.ADD, f"c{i}", f"conf{i}@example.com", SEGMENT) for i in range(0, n, 2)
    ]
    return ups + adds


def _comparable(state: dict[str, Any]) -> Any:
    contacts = {
        rid: {k: v for k, v in props.items() if k != "lastmodifieddate"}
        for rid, props in state["contacts"].items()
    }
    return contacts, [(lst["name"], lst["members"]) for lst in state["lists"]]


class TestHubSpotConformance(PluginConformance):
    target = ConformanceTarget(
        spec=SPEC,
        settings=_settings,
        refuse=_refuse,
        traits=(
            TraitSpec("score", "number", "Score"),
            TraitSpec("tier", "enum", "Tier", options=("a", "b")),
        ),
        segments=(SEGMENT,),
        changes=_changes,
        comparable=_comparable,
    )
