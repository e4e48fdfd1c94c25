"""The core conformance suite, applied to the Klaviyo plugin."""

from __future__ import annotations

from typing import Any

from klaviyo_support import member, upsert

from cdp_klaviyo import SPEC
from connector.plugin.changes import Change, ChangeKind, Recipient, SegmentRef, TraitSpec
from connector.testing.conformance import ConformanceTarget, PluginConformance

SEGMENT = SegmentRef("seg-vip", "VIP")


def _settings(base_url: str) -> dict[str, Any]:
    return {
        "api_key": "pk_conformance",
        "base_url": base_url,
        "poll_interval": 0.01,
        "max_attempts": 4,
        "max_retry_seconds": 20.0,
    }


def _refuse(emulator: Any, settings: dict[str, Any]) -> dict[str, Any]:
    # the emulator, like Klaviyo, refuses anything that is not a private key
    return {**settings, "api_key": "not-a-private-key"}


def _changes(n: int) -> list[Change]:
    people = [Recipient(f"c{i}", email=f"conf{i}@example.com") for i in range(n)]
    ups = [
        upsert(p, {"score": i / 10, "tier": "a" if i % 2 else "b"}) for i, p in enumerate(people)
    ]
    adds = [member(ChangeKind.ADD, p, SEGMENT) for p in people[::2]]
    return ups + adds


def _comparable(state: dict[str, Any]) -> Any:
    profiles = {
        pid: {k: v for k, v in p.items() if k != "updated"} for pid, p in state["profiles"].items()
    }
    return profiles, sorted((lst["name"], lst["members"]) for lst in state["lists"].values())


class TestKlaviyoConformance(PluginConformance):
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
