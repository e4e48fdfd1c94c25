"""``connector check`` for Klaviyo: read the metric names (source) or list names (sink).

Neither reads a profile. Klaviyo answers a wrong private key with 401 and a key without the
scope (``metrics:read``, ``lists:read``) with 403 (Klaviyo API reference, "Authentication").
"""

from __future__ import annotations

from collections.abc import Sequence

from cdp_klaviyo.settings import KlaviyoSettings
from connector.sdk import CheckRole, ConnectionCheck, PluginContext, ProbeHints, probe

__all__ = ["check_connection"]

# the revision klaviyo-api 25 sends (klaviyo_api/wrapper.py, _REVISION)
REVISION = "2026-10-15"
_CALLS = {
    "source": ("metrics", "/api/metrics", "profiles:read, events:read, metrics:read"),
    "sink": ("lists", "/api/lists", "lists:read, lists:write, profiles:write"),
}


def check_connection(
    settings: KlaviyoSettings, context: PluginContext, role: CheckRole
) -> Sequence[ConnectionCheck]:
    what, path, scopes = _CALLS[role]
    headers = {
        "Authorization": f"Klaviyo-API-Key {settings.api_key.get_secret_value()}",
        "revision": REVISION,
        "accept": "application/vnd.api+json",
    }
    url = f"{settings.base_url.rstrip('/')}{path}"
    return [probe(what, "GET", url, ProbeHints("api_key", scopes), headers=headers)]
