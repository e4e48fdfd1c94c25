"""``connector check`` for HubSpot: list the contact property groups with the token.

Property group definitions are schema, not people, and every private app that reads or writes
contacts needs a ``crm.schemas.contacts`` scope for them; a 401 means the token is wrong or
revoked, a 403 (category MISSING_SCOPES) that the app lacks a scope.
"""

from __future__ import annotations

from collections.abc import Sequence

from cdp_hubspot.settings import HubSpotSettings
from connector.sdk import CheckRole, ConnectionCheck, PluginContext, ProbeHints, probe

__all__ = ["check_connection"]

_SCOPES = {
    "source": "crm.objects.contacts.read, crm.objects.deals.read, crm.schemas.contacts.read",
    "sink": "crm.objects.contacts.write, crm.schemas.contacts.write, crm.lists.write",
}


def check_connection(
    settings: HubSpotSettings, context: PluginContext, role: CheckRole
) -> Sequence[ConnectionCheck]:
    url = f"{settings.base_url.rstrip('/')}/crm/v3/properties/contacts/groups"
    hints = ProbeHints(credential="access_token", scopes=_SCOPES[role])
    token = settings.access_token.get_secret_value()
    return [
        probe("contact properties", "GET", url, hints, headers={"Authorization": f"Bearer {token}"})
    ]
