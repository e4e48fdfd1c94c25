"""The facebook-business SDK, pointed at our base URL, with Meta's errors mapped to our tree.

The SDK raises ``FacebookRequestError`` for a JSON error body but raises nothing for a 5xx with
an HTML or plain-text body, nor for a 414 (facts/ads-segment-scheduling.md 1.5), so every call
goes through ``_checked``, which reads the HTTP status itself. Error codes follow Meta's error
reference (facts 1.4): 1, 2, 4, 17, 613, 80003 and the other 8000x BUC throttles, or any body
flagged ``is_transient``, are retried; 190/102 (token) and 200/10 (permission) stop the
destination, as does 2635 (an expired ``api_version``: a ``ConfigError`` naming the setting);
100 (invalid parameter) isolates the batch.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from cdp_meta.settings import MetaSettings
from connector.sdk import (
    REFUSALS_SKIP,
    Action,
    ConfigError,
    FatalError,
    RetryableError,
    SkippableError,
    action_for,
    error_for,
    json_object,
)

__all__ = ["TRANSIENT_CODES", "AudienceGoneError", "Graph", "TooLargeError"]

if TYPE_CHECKING:
    from facebook_business.exceptions import FacebookRequestError

log = logging.getLogger(__name__)

TRANSIENT_CODES = frozenset({1, 2, 4, 17, 341, 613, 80003, 80004, 80008, 80014})
AUTH_CODES = frozenset({102, 190})
PERMISSION_CODES = frozenset({10, 200, 294})
# "(#2635) You are calling a deprecated version of the Ads API" (cdp_meta.versions)
DEPRECATED_VERSION_CODE = 2635
# A status without a Graph error body (a proxy's answer): 429/5xx retry, 401 is the token, and
# every other refusal (403, 408 and 425 included) isolates the request.
STATUS_ACTIONS = {**REFUSALS_SKIP, 403: Action.SKIP, 408: Action.SKIP, 425: Action.SKIP}
_MAX_BUC_WAIT = 600.0


class TooLargeError(SkippableError):
    """The request was too big for the URL or body (414/413): split it and send again."""


class AudienceGoneError(FatalError):
    """The audience id no longer exists (code 100, subcode 33): deleted in Ads Manager."""


def _buc_wait(headers: Mapping[str, str] | None) -> float | None:
    """Seconds from ``X-Business-Use-Case-Usage``'s ``estimated_time_to_regain_access`` (min)."""
    raw = None
    if headers is not None:
        raw = headers.get("x-business-use-case-usage") or headers.get("X-Business-Use-Case-Usage")
    if not raw:
        return None
    try:
        usage = json.loads(raw)
    except ValueError:
        return None
    minutes = [
        float(entry.get("estimated_time_to_regain_access") or 0)
        for entries in usage.values()
        for entry in (entries if isinstance(entries, list) else [])
    ]
    return min(max(minutes, default=0) * 60.0, _MAX_BUC_WAIT) or None


class Graph:
    """The few Graph calls the sink makes, each returning parsed JSON or raising our errors."""

    def __init__(self, settings: MetaSettings) -> None:
        from facebook_business.api import FacebookAdsApi

        secret = settings.app_secret.get_secret_value() if settings.app_secret else None
        self.api = FacebookAdsApi.init(
            app_id=settings.app_id,
            app_secret=secret,
            access_token=settings.access_token.get_secret_value(),
            api_version=settings.api_version,
            crash_log=False,  # the default hook posts crash reports to graph.facebook.com
        )
        self.api._session.GRAPH = settings.base_url.rstrip("/")
        self.api._session.timeout = settings.timeout
        # The SDK puts the token in every URL's query string, where proxies, access logs and
        # urllib3's debug lines keep it. The Graph API takes it as a header just as well.
        session = self.api._session.requests
        token = session.params.pop("access_token", None)
        if token:
            session.headers["Authorization"] = f"OAuth {token}"
        self.account = settings.account_path

    def close(self) -> None:
        self.api._session.requests.close()

    # ---- error mapping --------------------------------------------------------------------
    def _checked(self, call: Callable[[], Any]) -> Any:
        from facebook_business.exceptions import FacebookRequestError
        from requests import RequestException

        try:
            response = call()
        except FacebookRequestError as exc:
            raise self._classify(exc) from None
        except RequestException as exc:
            raise RetryableError(f"Meta connection failed: {type(exc).__name__}") from None
        status = response.status()
        if status in (413, 414):
            raise TooLargeError(f"HTTP {status}: request too large")
        if status >= 400:
            action = action_for(status, STATUS_ACTIONS)
            text = f"HTTP {status} from Meta"
            if action is Action.RETRY:
                text = f"HTTP {status} with a non-JSON body from Meta"
            elif action is Action.AUTH:
                text = f"HTTP {status} from Meta: the access token was refused"
            raise error_for(action, text)
        # a 2xx that is not JSON (a captive portal, a proxy page) passes the SDK as a success
        headers = response.headers() or {}
        return json_object(
            status, response.body(), service="Meta", content_type=headers.get("Content-Type")
        )

    @staticmethod
    def _classify(exc: FacebookRequestError) -> Exception:
        code = exc.api_error_code()
        status = exc.http_status()
        message = str(exc.api_error_message() or "")[:200]
        label = f"Meta error {code}/{exc.api_error_subcode()}: {message}"
        transient = code in TRANSIENT_CODES or exc.api_transient_error()
        if transient or (code is None and (status >= 500 or status == 429)):
            return error_for(Action.RETRY, label, retry_after=_buc_wait(exc.http_headers()))
        if code in AUTH_CODES or status == 401:
            # a refused token, whatever code a proxy or gateway put in the body: retrying or
            # isolating records would only repeat the refusal
            return error_for(Action.AUTH, label)
        if code in PERMISSION_CODES:
            return error_for(Action.FAIL, label)
        if code == DEPRECATED_VERSION_CODE:
            return ConfigError(
                f"{label}; set api_version of this destination to a supported Marketing API "
                "version (the default is kept current with Meta's version table)"
            )
        if code == 100 and exc.api_error_subcode() == 33 and status not in (413, 414):
            return AudienceGoneError(label)
        too_large = status in (413, 414)
        return error_for(
            Action.SKIP, label, skippable=TooLargeError if too_large else SkippableError
        )

    # ---- calls ----------------------------------------------------------------------------
    def list_audiences(self) -> list[dict[str, Any]]:
        """Every custom audience of the account (id, name), following the cursor."""
        out: list[dict[str, Any]] = []
        params: dict[str, Any] = {"fields": "id,name", "limit": 200}
        while True:
            body = self._checked(
                lambda p=dict(params): self.api.call(  # type: ignore[misc]
                    "GET", (self.account, "customaudiences"), params=p
                )
            )
            out.extend(body.get("data", []))
            paging = body.get("paging") or {}
            after = (paging.get("cursors") or {}).get("after")
            if not (after and paging.get("next")):
                return out
            params["after"] = after

    def create_audience(
        self, name: str, description: str, source: str, *, value_based: bool
    ) -> str:
        params: dict[str, Any] = {
            "name": name,
            "subtype": "CUSTOM",
            "description": description,
            "customer_file_source": source,
        }
        if value_based:
            params["is_value_based"] = True
        body = self._checked(
            lambda: self.api.call("POST", (self.account, "customaudiences"), params=params)
        )
        return str(body["id"])

    def audience(self, audience_id: str, fields: Sequence[str]) -> dict[str, Any]:
        params = {"fields": ",".join(fields)}
        result: dict[str, Any] = self._checked(
            lambda: self.api.call("GET", (audience_id,), params=params)
        )
        return result

    def users(
        self,
        method: str,
        audience_id: str,
        schema: Sequence[str],
        rows: Sequence[Sequence[str]],
        *,
        edge: str = "users",
        session: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """POST or DELETE ``/{audience}/users`` (or ``usersreplace``) with hashed rows.

        Rows are already normalised and hashed by us, so the payload is built the way the SDK's
        ``format_params(..., is_raw=True, pre_hashed=True)`` builds it: sent unchanged.
        """
        params: dict[str, Any] = {
            "payload": {"schema": list(schema), "is_raw": True, "data": [list(r) for r in rows]}
        }
        if session is not None:
            params["session"] = session
        result: dict[str, Any] = self._checked(
            lambda: self.api.call(method, (audience_id, edge), params=params)
        )
        return result
