"""Find or create a segment's Customer Match list through the Google Ads API (REST): the older
route, kept behind ``user_list_api = "google_ads"`` (it needs a developer token); the default
is the Data Manager API's UserListService (``datamanager_lists.py``).

Lists are created with
``POST /v{N}/customers/{cid}/userLists:mutate`` (a ``crmBasedUserList`` with
``uploadKeyType: CONTACT_INFO``, ``dataSourceType: FIRST_PARTY``; int64 fields such as
``membershipLifeSpan`` are JSON strings) and found again by name with GAQL through
``POST /v{N}/customers/{cid}/googleAds:search``. List names are unique per account, so a create
that loses a race (or follows a lost state) answers ``userListError: NAME_ALREADY_USED`` and we
search again. Errors are ``GoogleAdsFailure`` objects inside the standard Google error envelope.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Protocol

import httpx

from cdp_google_ads.client import ACTIONS, TokenSource, send_authorised
from cdp_google_ads.limits import ADS_API_CALLS, ADS_API_WINDOW, LIST_NAME_MAX
from cdp_google_ads.settings import GoogleAdsSettings
from connector.sdk import (
    Action,
    RateBudget,
    RetryableError,
    RetryPolicy,
    SkippableError,
    action_for,
    error_for,
    json_body,
    json_object,
    parse_retry_after,
)

__all__ = [
    "NAME_TAKEN",
    "AdsApiError",
    "ListFinder",
    "UserLists",
    "check_response",
    "find_or_create",
    "gaql_string",
]

# Google's code for a name taken by another list of the account: NAME_ALREADY_USED in the Ads
# API, DISPLAY_NAME_ALREADY_USED in the Data Manager API; DUPLICATE_NAME and ALREADY_EXISTS are
# accepted too (other resources use those spellings) so a variant never creates duplicates.
NAME_TAKEN = {"NAME_ALREADY_USED", "DUPLICATE_NAME", "DISPLAY_NAME_ALREADY_USED", "ALREADY_EXISTS"}


class ListFinder(Protocol):
    """Finds a Customer Match list by name and creates one: one API's calls."""

    def find(self, name: str) -> str | None: ...

    def create(self, name: str, description: str) -> str: ...


def gaql_string(value: str) -> str:
    """``value`` as a GAQL string literal: backslash and quote escaped, so no name can end the
    literal early and inject conditions (GAQL escapes with a backslash, like ``\\'``)."""
    escaped = value.replace("\\", "\\\\").replace("'", "\\'")
    return f"'{escaped}'"


class AdsApiError(SkippableError):
    """A permanent Google Ads API refusal, with the ``errorCode`` values it named."""

    def __init__(self, reason: str, codes: set[str]) -> None:
        super().__init__(reason)
        self.codes = codes


@dataclass(frozen=True, slots=True)
class _Failure:
    message: str
    codes: set[str]
    retry_delay: float | None


def _failure(body: Any, status: int) -> _Failure:
    error = body.get("error") if isinstance(body, dict) else None
    error = error if isinstance(error, dict) else {}
    messages: list[str] = []
    codes: set[str] = set()
    delay: float | None = None
    for detail in error.get("details") or []:
        if detail.get("reason"):  # google.rpc.ErrorInfo (Data Manager API)
            codes.add(str(detail["reason"]))
        for item in detail.get("errors") or []:  # GoogleAdsFailure.errors[]
            codes.update(str(v) for v in (item.get("errorCode") or {}).values())
            if item.get("message"):
                messages.append(str(item["message"]))
            quota = (item.get("details") or {}).get("quotaErrorDetails") or {}
            raw = str(quota.get("retryDelay") or "")
            if raw.endswith("s"):
                try:
                    delay = float(raw[:-1])
                except ValueError:
                    delay = None
    message = "; ".join(messages) or str(error.get("message") or f"HTTP {status}")
    return _Failure(message[:300], codes, delay)


class UserLists:
    """Google Ads API calls the sink needs to own its lists: search by name, create."""

    def __init__(
        self,
        settings: GoogleAdsSettings,
        tokens: TokenSource,
        retry: RetryPolicy,
        log: logging.Logger,
    ) -> None:
        self.settings = settings
        self.tokens = tokens
        self.retry = retry
        self.log = log
        self.budget = RateBudget(ADS_API_CALLS, ADS_API_WINDOW, name="google.ads")

    def list_name(self, segment_name: str) -> str:
        return (self.settings.list_name_prefix + segment_name)[:LIST_NAME_MAX]

    def ensure(self, name: str, description: str = "") -> str:
        """The id of the CRM-based list called ``name``: found, else created."""
        return find_or_create(self, name, description, self.retry, self.log)

    def find(self, name: str) -> str | None:
        query = (
            "SELECT user_list.resource_name, user_list.id, user_list.name, user_list.type "
            f"FROM user_list WHERE user_list.name = {gaql_string(name)}"
        )
        body = self._post("googleAds:search", {"query": query})
        for row in body.get("results") or []:
            user_list = row.get("userList") or {}
            if user_list.get("name") != name:
                continue
            kind = user_list.get("type")
            if kind and kind != "CRM_BASED":
                raise AdsApiError(
                    f"user list {user_list.get('id')} named like this segment's list is "
                    f"{kind}, not a Customer Match (CRM_BASED) list; rename one of them",
                    {"NOT_CRM_BASED"},
                )
            list_id = user_list.get("id") or str(user_list.get("resourceName", "")).split("/")[-1]
            if list_id:
                return str(list_id)
        return None

    def create(self, name: str, description: str) -> str:
        create: dict[str, Any] = {
            "name": name,
            "membershipLifeSpan": str(self.settings.membership_life_span_days),  # int64: string
            "crmBasedUserList": {"uploadKeyType": "CONTACT_INFO", "dataSourceType": "FIRST_PARTY"},
        }
        if description:
            create["description"] = description[:LIST_NAME_MAX]
        body = self._post("userLists:mutate", {"operations": [{"create": create}]})
        results = body.get("results") or []
        resource = str(results[0].get("resourceName") or "") if results else ""
        list_id = resource.rsplit("/", 1)[-1]
        if not list_id.isdigit():
            raise RetryableError("userLists:mutate answered without a list resource name")
        return list_id

    # ---- transport ------------------------------------------------------------------------
    def _post(self, method: str, payload: dict[str, Any]) -> dict[str, Any]:
        s = self.settings
        cid = s.operating_account_id
        url = f"{s.ads_api_url.rstrip('/')}/{s.ads_api_version}/customers/{cid}/{method}"
        assert s.developer_token is not None  # noqa: S101 - validated with create_user_lists
        headers = {"developer-token": s.developer_token.get_secret_value()}
        if s.login_account_id:
            headers["login-customer-id"] = s.login_account_id.replace("-", "")
        response = send_authorised(
            self.tokens,
            self.budget,
            "POST",
            url,
            service="Google Ads API",
            headers=headers,
            json=payload,
        )
        return check_response(response, "Google Ads API")


def find_or_create(
    api: ListFinder, name: str, description: str, retry: RetryPolicy, log: logging.Logger
) -> str:
    """The id of the list called ``name``: found, else created; a create that loses a race
    (or follows a lost state) is refused as a taken name, and the list is searched again."""
    found = retry.call(lambda: api.find(name))
    if found is not None:
        log.info("Customer Match list %s found by name", found)
        return found
    try:
        created = retry.call(lambda: api.create(name, description))
    except AdsApiError as exc:
        if not exc.codes & NAME_TAKEN:
            raise
        again = retry.call(lambda: api.find(name))
        if again is None:
            raise
        log.info("Customer Match list %s created concurrently; reusing it", again)
        return again
    log.info("Customer Match list %s created", created)
    return created


def check_response(response: httpx.Response, service: str) -> dict[str, Any]:
    """The JSON object of a 2xx answer, else our error for Google's refusal (codes and
    reasons from ``GoogleAdsFailure`` or ``google.rpc.ErrorInfo`` details kept on it)."""
    status = response.status_code
    ctype = response.headers.get("Content-Type")
    if 200 <= status < 300:
        return json_object(status, response.content, service=service, content_type=ctype)
    body = json_body(status, response.content, service=service, content_type=ctype)
    failure = _failure(body, status)
    action = action_for(status, ACTIONS)
    if action is Action.RETRY:
        wait = parse_retry_after(response.headers.get("Retry-After")) or failure.retry_delay
        raise error_for(action, f"{service} {status}: {failure.message}", retry_after=wait)
    codes = ", ".join(sorted(failure.codes))
    if action is Action.AUTH:
        raise error_for(action, f"{service} {status} {codes}: {failure.message}".strip())
    raise error_for(
        action,
        f"{service} {status} {codes}: {failure.message}",
        skippable=lambda reason: AdsApiError(reason, failure.codes),
    )
