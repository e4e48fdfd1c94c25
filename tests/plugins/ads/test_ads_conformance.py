"""The core conformance suite, applied to the Meta and Google audience sinks."""

from __future__ import annotations

from typing import Any

from cdp_google_ads import SPEC as GOOGLE
from cdp_google_ads.emulator import GoogleAdsEmulator
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


def _google_settings(base_url: str) -> dict[str, Any]:
    return {
        "operating_account_id": "1234567890",
        "user_lists": {"high_value": "9001"},
        "base_url": base_url,
        "token_url": f"{base_url}/token",
        "client_id": GoogleAdsEmulator.client_id,
        "client_secret": GoogleAdsEmulator.client_secret,
        "refresh_token": GoogleAdsEmulator.refresh_token,
        "terms_of_service_accepted": True,
        "status_poll_interval": 0.05,
        "max_retry_seconds": 20,
    }


def _google_refuse(emulator: Any, settings: dict[str, Any]) -> dict[str, Any]:
    return {**settings, "refresh_token": "revoked-refresh-token"}


class TestMetaConformance(PluginConformance):
    target = ConformanceTarget(
        spec=META,
        settings=_meta_settings,
        refuse=_meta_refuse,
        segments=(SEGMENT,),
        changes=_changes,
        comparable=_meta_state,
    )


class TestGoogleConformance(PluginConformance):
    target = ConformanceTarget(
        spec=GOOGLE,
        settings=_google_settings,
        refuse=_google_refuse,
        segments=(SEGMENT,),
        changes=_changes,
        comparable=lambda state: {
            k: v for k, v in state.items() if k not in ("requests", "tokens", "operations")
        },
    )
