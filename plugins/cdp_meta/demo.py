"""Meta's part in ``connector demo``: a Custom Audience per activated segment, on the emulator.

The emulator is told which people "have a Facebook account" (about 70%, picked by a hash of the
address, so every demo matches the same people), so the audience shows a realistic match rate.
"""

from __future__ import annotations

import hashlib
import json

import httpx

from cdp_meta.identifiers import meta_email
from connector.sdk import DemoCast, DemoPart

__all__ = ["demo_setup"]

# The emulator's fake token; it exists only in the demo directory.
_TOKEN = "meta-test-token"  # noqa: S105 - a fake the emulator accepts


def _has_account(email: str) -> bool:
    return hashlib.sha256(f"meta-demo\x1f{email}".encode()).digest()[0] < 179  # ~70%


def demo_setup(base_url: str, cast: DemoCast) -> DemoPart:
    """Seed the emulator's platform users; a destination sending the activated segments."""
    emails = [meta_email(p["email"]) for p in cast.crm if p.get("email")]
    hashes = [hashlib.sha256(e.encode()).hexdigest() for e in emails if _has_account(e)]
    httpx.post(
        f"{base_url}/__emulator__/seed", json={"platform_users": {"EMAIL": hashes}}, timeout=60
    )
    config = (
        f'[destinations.meta_ads]\nplugin = "meta"\nbase_url = "{base_url}"\n'
        f'ad_account_id = "act_1001"\nsegments = {json.dumps(list(cast.segments))}\n'
    )
    return DemoPart(config, f'[destinations.meta_ads]\naccess_token = "{_TOKEN}"\n')
