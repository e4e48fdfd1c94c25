"""Find or create a segment's Customer Match list through the Data Manager API (v1.5).

Since 2026-02-17 the Data Manager API's ``UserListService`` creates, reads, lists, updates and
deletes Customer Match lists itself (developers.google.com/ads/blog/posts/2026/02/announcing-
user-list-management-and), with the same OAuth grant (``datamanager`` scope) as member uploads
and no Google Ads developer token. We call it with httpx, like the rest of this plugin, rather
than through the official ``google-ads-datamanager`` client (0.9.4, which does install here and
whose REST transport we ran against our emulator): the client brings grpcio, protobuf,
google-api-core and google-auth into every install for five REST calls, comes with its own retry,
timeout and credential machinery beside our token source, rate budget and error table, and is
still a 0.x release. The wire shapes below are the ones that client sends and reads.

- find: ``GET /v1/accountTypes/{type}/accounts/{id}/userLists?filter=display_name = "<name>"``
  (AIP-160; ``pageSize`` ≤1,000, ``nextPageToken``), keeping lists whose ``displayName`` is
  exactly the name;
- create: ``POST`` to the same collection with a ``UserList``: ``displayName``,
  ``description``, ``membershipDuration`` ("<seconds>s", whole days, ≤540 days) and
  ``ingestedUserListInfo`` (``uploadKeyTypes: [CONTACT_ID]``, ``contactIdInfo.dataSourceType:
  DATA_SOURCE_TYPE_FIRST_PARTY``); the answer is the list, its ``id`` an int64 as a string.

A display name taken in the account answers ``DISPLAY_NAME_ALREADY_USED`` (ErrorInfo reason), so
a create that lost a race searches again (``lists.find_or_create``).
"""

from __future__ import annotations

import logging
from typing import Any

from cdp_google_ads.client import TokenSource, send_authorised
from cdp_google_ads.limits import (
    DATA_MANAGER_CALLS,
    DATA_MANAGER_WINDOW,
    LIFE_SPAN_MAX_DAYS,
    LIST_NAME_MAX,
)
from cdp_google_ads.lists import AdsApiError, check_response, find_or_create
from cdp_google_ads.settings import GoogleAdsSettings
from connector.sdk import RateBudget, RetryableError, RetryPolicy

__all__ = ["DataManagerLists", "display_name_filter"]

_SERVICE = "Data Manager API"
_PAGE_SIZE = 1000  # ListUserListsRequest.page_size: at most 1,000
_DAY = 86_400


def display_name_filter(name: str) -> str:
    """An AIP-160 filter matching ``name`` exactly: a double-quoted string literal with
    backslash and quote escaped, so no list name can end the literal and add conditions."""
    escaped = name.replace("\\", "\\\\").replace('"', '\\"')
    return f'display_name = "{escaped}"'


class DataManagerLists:
    """UserListService calls the sink needs to own its lists: find by name, create."""

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
        self.budget = RateBudget(
            DATA_MANAGER_CALLS, DATA_MANAGER_WINDOW, name="google.datamanager.user_lists"
        )
        s = settings
        self.collection = (
            f"{s.base_url.rstrip('/')}/v1/accountTypes/{s.operating_account_type}"
            f"/accounts/{s.operating_account_id}/userLists"
        )

    def list_name(self, segment_name: str) -> str:
        return (self.settings.list_name_prefix + segment_name)[:LIST_NAME_MAX]

    def ensure(self, name: str, description: str = "") -> str:
        """The id of the Customer Match list called ``name``: found, else created."""
        return find_or_create(self, name, description, self.retry, self.log)

    def find(self, name: str) -> str | None:
        params: dict[str, Any] = {"filter": display_name_filter(name), "pageSize": _PAGE_SIZE}
        while True:
            body = self._send("GET", params=params)
            for user_list in body.get("userLists") or []:
                if user_list.get("displayName") == name:
                    return self._customer_match_id(user_list)
            token = body.get("nextPageToken")
            if not token:
                return None
            params = {**params, "pageToken": token}

    def create(self, name: str, description: str) -> str:
        user_list: dict[str, Any] = {
            "displayName": name,
            "ingestedUserListInfo": {
                "uploadKeyTypes": ["CONTACT_ID"],
                "contactIdInfo": {"dataSourceType": "DATA_SOURCE_TYPE_FIRST_PARTY"},
            },
        }
        if description:
            user_list["description"] = description[:LIST_NAME_MAX]
        days = self.settings.membership_life_span_days
        if days <= LIFE_SPAN_MAX_DAYS:  # 10000 ("no expiry" in the Ads API): Google's default
            user_list["membershipDuration"] = f"{days * _DAY}s"
        body = self._send("POST", json=user_list)
        list_id = str(body.get("id") or str(body.get("name") or "").rsplit("/", 1)[-1])
        if not list_id.isdigit():
            raise RetryableError("userLists.create answered without a list id")
        return list_id

    @staticmethod
    def _customer_match_id(user_list: dict[str, Any]) -> str:
        info = user_list.get("ingestedUserListInfo") or {}
        if "CONTACT_ID" not in (info.get("uploadKeyTypes") or []):
            raise AdsApiError(
                f"user list {user_list.get('id')} named like this segment's list does not take "
                "contact information (upload key CONTACT_ID); rename one of them",
                {"NOT_CONTACT_ID_LIST"},
            )
        return str(user_list.get("id") or str(user_list.get("name", "")).rsplit("/", 1)[-1])

    def _send(self, method: str, **kwargs: Any) -> dict[str, Any]:
        headers: dict[str, str] = {}
        if self.settings.login_account_id:
            # optional ``login-account`` header, "accountTypes/{type}/accounts/{id}"
            # (developers.google.com/data-manager/api/reference/rest/v1/
            # accountTypes.accounts.userLists/create)
            headers["login-account"] = (
                f"accountTypes/{self.settings.login_account_type}"
                f"/accounts/{self.settings.login_account_id.replace('-', '')}"
            )
        response = send_authorised(
            self.tokens,
            self.budget,
            method,
            self.collection,
            service=_SERVICE,
            headers=headers,
            **kwargs,
        )
        return check_response(response, _SERVICE)
