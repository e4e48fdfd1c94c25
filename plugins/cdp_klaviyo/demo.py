"""Klaviyo's part in ``connector demo``: the shop's e-mail subscribers, under Klaviyo's own ids."""

from __future__ import annotations

import json

import httpx

from connector.sdk import DemoCast, DemoPart

__all__ = ["demo_setup"]

# A fake private API key the emulator accepts; it exists only in the demo directory.
_API_KEY = "pk_demo_klaviyo_0001"


def demo_setup(base_url: str, cast: DemoCast) -> DemoPart:
    """Seed the emulator with the subscribers; a source and a destination against it."""
    httpx.post(f"{base_url}/__emulator__/seed", json={"people": list(cast.marketing)}, timeout=60)
    segments = json.dumps(list(cast.segments))
    config = "\n".join(
        [
            f'[sources.klaviyo]\nplugin = "klaviyo"\nbase_url = "{base_url}"\nlookback = "10m"\n',
            f'[destinations.klaviyo_out]\nplugin = "klaviyo"\nbase_url = "{base_url}"\n'
            f"segments = {segments}\npoll_interval = 0.05\n",
        ]
    )
    secrets = "\n".join(
        f'[{section}]\napi_key = "{_API_KEY}"\n'
        for section in ("sources.klaviyo", "destinations.klaviyo_out")
    )
    return DemoPart(config, secrets)
