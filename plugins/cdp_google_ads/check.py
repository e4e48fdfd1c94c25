"""``connector check`` for Google Customer Match: get an OAuth token, then (with
``create_user_lists``) search the account's user lists for a name no list has.

The Data Manager API has no read call, so the OAuth grant is what a check can prove for it;
the token endpoint answers bad credentials with 400 ``invalid_grant`` (RFC 6749 §5.2), which
is a refused credential (401) in the operator's words. The Google Ads API adds the developer
token (401 DEVELOPER_TOKEN_INVALID), the ``adwords`` scope (403) and the account id.
"""

from __future__ import annotations

from collections.abc import Sequence

import httpx

from cdp_google_ads.client import TokenSource
from cdp_google_ads.settings import GoogleAdsSettings
from connector.sdk import (
    CHECK_TIMEOUT,
    CheckRole,
    ConnectionCheck,
    ConnectorError,
    PluginContext,
    ProbeHints,
    host_of,
    judge,
    probe,
    unreachable,
)

__all__ = ["check_connection"]

_PROBE_QUERY = (
    "SELECT user_list.id FROM user_list WHERE user_list.name = 'cdp-connector connection check'"
)


def _credential(settings: GoogleAdsSettings) -> str:
    if settings.refresh_token is not None:
        return "refresh_token (with client_id and client_secret)"
    return "service_account_email and service_account_private_key"


def _token(settings: GoogleAdsSettings) -> tuple[str | None, ConnectionCheck]:
    """The access token, or why there is none; the token endpoint is asked once."""
    hints = ProbeHints(_credential(settings), url="token_url")
    answers: list[int] = []

    def seen(response: httpx.Response) -> None:
        answers.append(response.status_code)

    with httpx.Client(
        timeout=CHECK_TIMEOUT, follow_redirects=False, event_hooks={"response": [seen]}
    ) as client:
        try:
            token = TokenSource(settings, client).token()
        except ConnectorError:
            if not answers:
                refused = httpx.ConnectError("no answer")
                return None, unreachable("OAuth token", settings.token_url, refused, hints)
            # the token endpoint answers bad credentials with 400 invalid_grant (RFC 6749 5.2)
            status = 401 if answers[-1] in (400, 401) else answers[-1]
            return None, judge("OAuth token", settings.token_url, status, hints)
    return token, ConnectionCheck(
        "OAuth token", host_of(settings.token_url), ok=True, status=200, detail="authenticated"
    )


def check_connection(
    settings: GoogleAdsSettings, context: PluginContext, role: CheckRole
) -> Sequence[ConnectionCheck]:
    token, verdict = _token(settings)
    if token is None or settings.developer_token is None:
        return [verdict]
    cid = settings.operating_account_id.replace("-", "")
    base = settings.ads_api_url.rstrip("/")
    url = f"{base}/{settings.ads_api_version}/customers/{cid}/googleAds:search"
    headers = {
        "Authorization": f"Bearer {token}",
        "developer-token": settings.developer_token.get_secret_value(),
    }
    if settings.login_account_id:
        headers["login-customer-id"] = settings.login_account_id.replace("-", "")
    hints = ProbeHints(
        "developer_token and the OAuth grant",
        scopes="https://www.googleapis.com/auth/adwords",
        account="operating_account_id",
        url="ads_api_url",
    )
    ads = probe(
        "Ads API user lists", "POST", url, hints, headers=headers, json={"query": _PROBE_QUERY}
    )
    return [verdict, ads]
