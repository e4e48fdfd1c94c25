"""``connector check`` for Meta: list one Custom Audience id of the ad account.

Graph API errors come as HTTP 400 with an error code (Graph API "Handling Errors"): 190 is an
invalid or expired token (a 401 in our words), 10/200-299 a missing permission (403), and 100
with subcode 33 an object that does not exist or cannot be seen (a wrong ad account id: 404).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence

import httpx

from cdp_meta.settings import MetaSettings
from connector.sdk import CheckRole, ConnectionCheck, PluginContext, ProbeHints, probe

__all__ = ["check_connection", "graph_status"]

_HINTS = ProbeHints(credential="access_token", scopes="ads_management", account="ad_account_id")


def graph_status(response: httpx.Response) -> int:
    """The HTTP status a Graph API error means."""
    if response.status_code < 400:
        return response.status_code
    try:
        error = response.json().get("error") or {}
    except ValueError:
        return response.status_code
    code, subcode = error.get("code"), error.get("error_subcode")
    if code in (102, 190):
        return 401
    if code == 10 or (isinstance(code, int) and 200 <= code <= 299):
        return 403
    if code == 100 and subcode == 33:
        return 404
    return response.status_code


def check_connection(
    settings: MetaSettings, context: PluginContext, role: CheckRole
) -> Sequence[ConnectionCheck]:
    base = settings.base_url.rstrip("/")
    url = f"{base}/{settings.api_version}/{settings.account_path}/customaudiences"
    token = settings.access_token.get_secret_value()
    params = {"limit": "1", "fields": "id"}
    if settings.app_secret is not None:  # what facebook_business adds (api.py, appsecret_proof)
        secret = settings.app_secret.get_secret_value().encode()
        params["appsecret_proof"] = hmac.new(secret, token.encode(), hashlib.sha256).hexdigest()
    return [
        probe(
            "custom audiences",
            "GET",
            url,
            _HINTS,
            headers={"Authorization": f"OAuth {token}"},
            params=params,
            status_of=graph_status,
        )
    ]
