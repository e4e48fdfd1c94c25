"""The Google Customer Match and Segment destinations of the gauntlet's scenario.

Kept apart from ``harness`` so each destination's config, read-back and ledger key sit together:
Google lists are read back as the hashes of their members' emails (or phones), Segment as the
``cdp_`` traits of each identified user keyed by the email the sink sends along.
"""

from __future__ import annotations

import json
from typing import Any, Literal

from cdp_google_ads.emulator import GoogleAdsEmulator
from cdp_google_ads.identifiers import google_email, google_phone
from cdp_segment.emulator import SegmentEmulator
from connector.plugin.spec import EmulatorOptions
from connector.sdk import sha256_hex

__all__ = [
    "GOOGLE_LISTS",
    "GOOGLE_REFRESH",
    "GOOGLE_SECRET",
    "SEGMENT_KEY",
    "config_block",
    "google_hash",
    "google_view",
    "make_google",
    "make_segment",
    "segment_view",
]

GOOGLE_SECRET = "GOCSPX-GAUNTLETgoogle5c7e9a1b3d"
GOOGLE_REFRESH = "1//GAUNTLETrefresh8d6f4b2a0c"
SEGMENT_KEY = "GAUNTLETsegmentWriteKey3e5a7c9b1d"
GOOGLE_LISTS = {"rfm_high": "9001"}  # segment id → Customer Match list id


class _Google(GoogleAdsEmulator):
    """The Google emulator accepting the gauntlet's OAuth client instead of its built-in one."""

    client_secret = GOOGLE_SECRET
    refresh_token = GOOGLE_REFRESH


def make_google(limits: Literal["real", "off"]) -> GoogleAdsEmulator:
    return _Google(EmulatorOptions(limits=limits))


def make_segment(limits: Literal["real", "off"]) -> SegmentEmulator:
    return SegmentEmulator(EmulatorOptions(limits=limits), write_keys={SEGMENT_KEY})


def config_block(google: str, segment: str, retry_seconds: float) -> str:
    """The two destinations' sections of connector.toml."""
    lists = ", ".join(f'{k} = "{v}"' for k, v in GOOGLE_LISTS.items())
    return f"""
[destinations.google]
plugin = "google_ads"
operating_account_id = "1234567890"
user_lists = {{ {lists} }}
base_url = "{google}"
token_url = "{google}/token"
client_id = "{GoogleAdsEmulator.client_id}"
client_secret = {{ env = "GAUNTLET_GOOGLE_SECRET" }}
refresh_token = {{ env = "GAUNTLET_GOOGLE_REFRESH" }}
terms_of_service_accepted = true
segments = {json.dumps(list(GOOGLE_LISTS))}
consent_policy = "not_denied"
status_poll_interval = 0.05
max_retry_seconds = {retry_seconds}
timeout = 2

[destinations.segment_out]
plugin = "segment"
write_key = {{ env = "GAUNTLET_SEGMENT_KEY" }}
base_url = "{segment}"
segments = ["rfm_high", "rfm_medium"]
max_attempts = 4
max_retry_seconds = {retry_seconds}
timeout = 2
"""


def google_hash(key: str) -> str:
    """The hash a profile keyed by email (or, lacking one, phone) lands as in a Google list."""
    if "@" in key:
        return sha256_hex(google_email(key))
    return sha256_hex(google_phone(key))


def google_view(state: dict[str, Any]) -> dict[str, list[str]]:
    """List id → sorted member hashes (each member's first email hash, else phone hash)."""
    view: dict[str, list[str]] = {}
    for list_id, user_list in state["user_lists"].items():
        view[list_id] = sorted(
            (m.get("emailAddress") or m.get("phoneNumber") or [""])[0] for m in user_list["members"]
        )
    return view


def segment_view(state: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Email → the connector's traits on that Segment user (traits and segment flags)."""
    view: dict[str, dict[str, Any]] = {}
    for user, traits in state["users"].items():
        ours = {k: v for k, v in traits.items() if k.startswith("cdp_")}
        if ours:
            view[str(traits.get("email") or user).lower()] = ours
    return view
