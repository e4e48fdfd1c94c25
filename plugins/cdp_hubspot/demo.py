"""HubSpot's part in ``connector demo``: the shop's CRM contacts, read back and written to."""

from __future__ import annotations

import json

import httpx

from connector.sdk import DemoCast, DemoPart

__all__ = ["demo_setup"]

# A fake private-app token the emulator accepts; it exists only in the demo directory.
_TOKEN = "pat-demo-hubspot-0001"  # noqa: S105 - a fake the emulator accepts


def demo_setup(base_url: str, cast: DemoCast) -> DemoPart:
    """Seed the emulator with the CRM contacts; a source and a destination against it."""
    httpx.post(f"{base_url}/__emulator__/seed", json={"people": list(cast.crm)}, timeout=60)
    segments = json.dumps(list(cast.segments))
    config = "\n".join(
        [
            f'[sources.hubspot]\nplugin = "hubspot"\nbase_url = "{base_url}"\n',
            f'[destinations.hubspot_out]\nplugin = "hubspot"\nbase_url = "{base_url}"\n'
            f"segments = {segments}\n",
        ]
    )
    secrets = "\n".join(
        f'[{section}]\naccess_token = "{_TOKEN}"\n'
        for section in ("sources.hubspot", "destinations.hubspot_out")
    )
    return DemoPart(config, secrets)
