"""The authorised client of Google's APIs: requests sent with an OAuth 2.0 access token.

Tokens come from a refresh token or a service account; the token URL is a setting so the
emulator can serve it. A service account signs an RS256 JWT (RFC 7523 bearer grant, what
google-auth does) with ``cryptography``; without that package the service-account path raises
``ConfigError`` saying so. Tokens are cached until a minute before
they expire and dropped on a 401 so the next call fetches a fresh one.

With ``create_user_lists`` the token must also carry the Google Ads API scope (``adwords``): a
service account asks for both scopes in its JWT; a refresh token carries the scopes granted at
consent time, so it must have been issued for both (Google refuses the Ads calls otherwise).
"""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import httpx

from cdp_google_ads.settings import GoogleAdsSettings
from connector.sdk import (
    REFUSALS_SKIP,
    Action,
    AuthError,
    ConfigError,
    NotJSONError,
    RateBudget,
    RetryableError,
    host_of,
    json_object,
)

__all__ = ["ACTIONS", "TokenSource", "send_authorised"]

# What a status means for the Data Manager and Google Ads APIs (read with ``action_for``): only
# 429 and 5xx are retried; every other refusal (408 and 425 included) is about the request sent
# and isolates it.
ACTIONS = {**REFUSALS_SKIP, 408: Action.SKIP, 425: Action.SKIP}


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class TokenSource:
    def __init__(self, settings: GoogleAdsSettings, client: httpx.Client) -> None:
        self.settings = settings
        self.client = client
        self._token: str | None = None
        self._expires = 0.0

    def token(self) -> str:
        if self._token is None or time.monotonic() >= self._expires:
            self._token, lifetime = self._fetch()
            self._expires = time.monotonic() + max(0.0, lifetime - 60.0)
        return self._token

    def invalidate(self) -> None:
        self._token = None

    def _fetch(self) -> tuple[str, float]:
        s = self.settings
        if s.refresh_token is not None:
            form = {
                "grant_type": "refresh_token",
                "client_id": s.client_id or "",
                "client_secret": s.client_secret.get_secret_value() if s.client_secret else "",
                "refresh_token": s.refresh_token.get_secret_value(),
            }
        else:
            form = {
                "grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer",
                "assertion": self._service_account_jwt(),
            }
        try:
            response = self.client.post(s.token_url, data=form)
        except httpx.TransportError as exc:
            where = host_of(s.token_url)
            raise RetryableError(
                f"token endpoint {where} unreachable: {type(exc).__name__}"
            ) from None
        if response.status_code >= 500 or response.status_code == 429:
            raise RetryableError(f"token endpoint answered {response.status_code}")
        if response.status_code != 200:
            raise AuthError(f"Google refused the OAuth credentials ({response.status_code})")
        body = json_object(
            200,
            response.content,
            service="token endpoint",
            content_type=response.headers.get("Content-Type"),
        )
        if "access_token" not in body:
            raise NotJSONError("token endpoint", 200, "JSON without an access_token")
        return str(body["access_token"]), float(body.get("expires_in", 3600))

    def _service_account_jwt(self) -> str:
        try:
            from cryptography.hazmat.primitives import hashes, serialization
            from cryptography.hazmat.primitives.asymmetric import padding, rsa
        except ImportError:  # pragma: no cover - a declared dependency; guards a broken install
            raise ConfigError(
                "service-account auth needs the 'cryptography' package; install it or use "
                "refresh_token"
            ) from None
        s = self.settings
        assert s.service_account_private_key is not None  # noqa: S101 - validated settings
        pem = s.service_account_private_key.get_secret_value().encode()
        try:
            key = serialization.load_pem_private_key(pem, password=None)
        except ValueError:
            raise ConfigError("service_account_private_key is not a PEM private key") from None
        if not isinstance(key, rsa.RSAPrivateKey):
            raise ConfigError("service_account_private_key must be an RSA key")
        now = int(time.time())
        claims = {
            "iss": s.service_account_email,
            "scope": " ".join(s.scopes),
            "aud": s.token_url,
            "iat": now,
            "exp": now + 3600,
        }
        header = {"alg": "RS256", "typ": "JWT"}
        signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"
        signature = key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
        return f"{signing_input}.{_b64(signature)}"


def send_authorised(
    tokens: TokenSource,
    budget: RateBudget,
    method: str,
    url: str,
    *,
    service: str,
    headers: dict[str, str] | None = None,
    **kwargs: Any,
) -> httpx.Response:
    """One paced request with the current access token. A 401 drops the token (it expired or
    was revoked) and the request goes once more with a fresh one; a second 401 is an
    ``AuthError`` that stops the destination instead of a retry storm."""
    for attempt in (1, 2):
        budget.acquire()
        auth = {"Authorization": f"Bearer {tokens.token()}", **(headers or {})}
        try:
            response = tokens.client.request(method, url, headers=auth, **kwargs)
        except httpx.TransportError as exc:
            where = host_of(url)
            raise RetryableError(
                f"{service} at {where} unreachable: {type(exc).__name__}"
            ) from None
        if response.status_code == 401 and attempt == 1:
            tokens.invalidate()
            continue
        if response.status_code == 401:
            break
        return response
    raise AuthError(f"{service} refused the credentials even with a fresh OAuth token (401)")
