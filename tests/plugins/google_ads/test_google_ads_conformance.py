"""The core conformance suite, applied to the Google Customer Match sink."""

from __future__ import annotations

from typing import Any

from cdp_google_ads import SPEC as GOOGLE
from cdp_google_ads.emulator import GoogleAdsEmulator
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
