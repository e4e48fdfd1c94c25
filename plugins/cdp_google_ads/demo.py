"""Google's part in ``connector demo``: a Customer Match list per activated segment.

The Data Manager API cannot create lists, so the demo maps each segment to a list id of its own
(the emulator keeps any list it is sent to). About 60% of the people "have a Google account"
(picked by a hash of the address), so each list shows a realistic match-rate range.
"""

from __future__ import annotations

import hashlib
import json

import httpx

from cdp_google_ads.emulator import GoogleAdsEmulator
from cdp_google_ads.identifiers import google_email
from connector.sdk import DemoCast, DemoPart

__all__ = ["demo_setup"]


def _has_account(email: str) -> bool:
    return hashlib.sha256(f"google-demo\x1f{email}".encode()).digest()[0] < 154  # ~60%


def demo_setup(base_url: str, cast: DemoCast) -> DemoPart:
    """Seed the emulator's platform users; a destination with one list id per segment."""
    emails = [google_email(p["email"]) for p in cast.crm if p.get("email")]
    hashes = [hashlib.sha256(e.encode()).hexdigest() for e in emails if _has_account(e)]
    httpx.post(f"{base_url}/__emulator__/seed", json={"platform_users": hashes}, timeout=60)
    lists = ", ".join(f'"{sid}" = "{9001 + n}"' for n, sid in enumerate(cast.segments))
    config = "\n".join(
        [
            '[destinations.google_ads]\nplugin = "google_ads"',
            f'base_url = "{base_url}"\ntoken_url = "{base_url}/token"',
            f'operating_account_id = "1234567890"\nuser_lists = {{ {lists} }}',
            f'client_id = "{GoogleAdsEmulator.client_id}"\nterms_of_service_accepted = true',
            f"segments = {json.dumps(list(cast.segments))}\nstatus_poll_interval = 0.05\n",
        ]
    )
    secrets = (
        f'[destinations.google_ads]\nclient_secret = "{GoogleAdsEmulator.client_secret}"\n'
        f'refresh_token = "{GoogleAdsEmulator.refresh_token}"\n'
    )
    return DemoPart(config, secrets)
