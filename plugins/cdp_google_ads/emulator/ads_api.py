"""The slice of the Google Ads API (REST) the emulator serves: user list creation and search.

``POST /{version}/customers/{cid}/userLists:mutate`` creates CRM-based lists (names unique per
account: a taken name answers HTTP 400 with ``userListError: NAME_ALREADY_USED``) and
``POST /{version}/customers/{cid}/googleAds:search`` answers the GAQL by-name query
``SELECT user_list.<fields> FROM user_list WHERE user_list.name = '<literal>'``; other queries
get a ``queryError``. Errors are a ``GoogleAdsFailure`` in ``error.details[]`` of the standard
envelope. Calls need the ``developer-token`` header and an access token with the ``adwords``
scope, as Google does. Created lists become Data Manager destinations (``productDestinationId``
is the list id).
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass
from typing import Any, ClassVar

from cdp_google_ads.limits import LIFE_SPAN_MAX_DAYS, LIST_NAME_MAX, UNLIMITED_LIFE_SPAN
from connector.sdk import Request, Response

__all__ = ["AdsApiMixin", "AdsUserList"]

ADS_PATH = re.compile(r"^/v\d+/customers/[^/]+/")
_FIELDS = {
    "user_list.resource_name": "resourceName",
    "user_list.id": "id",
    "user_list.name": "name",
    "user_list.type": "type",
    "user_list.membership_life_span": "membershipLifeSpan",
    "user_list.description": "description",
}
_QUERY = re.compile(
    r"^\s*SELECT\s+(?P<fields>[\w.,\s]+?)\s+FROM\s+user_list\s+WHERE\s+user_list\.name\s*=\s*"
    r"(?P<literal>'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\")\s*(?:LIMIT\s+\d+\s*)?$",
    re.IGNORECASE | re.DOTALL,
)
_ESCAPE = re.compile(r"\\(.)", re.DOTALL)


@dataclass(slots=True)
class AdsUserList:
    id: str
    customer_id: str
    name: str
    description: str
    membership_life_span: str
    upload_key_type: str

    @property
    def resource_name(self) -> str:
        return f"customers/{self.customer_id}/userLists/{self.id}"

    def row(self) -> dict[str, str]:
        return {
            "resourceName": self.resource_name,
            "id": self.id,
            "name": self.name,
            "type": "CRM_BASED",
            "membershipLifeSpan": self.membership_life_span,
            "description": self.description,
        }


class AdsApiMixin:
    """Google Ads API handlers; mixed into ``GoogleAdsEmulator`` (which owns the lock)."""

    developer_token: ClassVar[str] = "emu-developer-token"  # noqa: S105 - fake platform
    ads_lists: dict[str, AdsUserList]
    token_scopes: dict[str, str]

    def _init_ads(self) -> None:
        self.ads_lists = {}
        self.token_scopes = {}
        self._list_ids = itertools.count(700_000_001)
        self._ads_request_ids = itertools.count(1)

    # ---- auth -----------------------------------------------------------------------------
    def _ads_denied(self, request: Request, token: str) -> Response | None:
        """Google Ads API checks on top of the bearer token: developer token and scope."""
        if request.header("developer-token") != self.developer_token:
            return self._ads_failure(
                401,
                "UNAUTHENTICATED",
                {"authenticationError": "DEVELOPER_TOKEN_INVALID"},
                "The developer token is not valid.",
            )
        if "adwords" not in self.token_scopes.get(token, ""):
            return self._ads_failure(
                403,
                "PERMISSION_DENIED",
                {"authorizationError": "ACTION_NOT_PERMITTED"},
                "Request had insufficient authentication scopes.",
            )
        login = request.header("login-customer-id")
        if login is not None and not login.isdigit():
            return self._ads_failure(
                400,
                "INVALID_ARGUMENT",
                {"headerError": "INVALID_LOGIN_CUSTOMER_ID"},
                "The login customer ID could not be validated.",
            )
        return None

    # ---- handlers -------------------------------------------------------------------------
    def _ads_mutate(self, request: Request) -> Response:
        cid = request.params["cid"]
        operations = (request.json() or {}).get("operations") or []
        if len(operations) != 1 or "create" not in operations[0]:
            return self._ads_failure(
                400,
                "INVALID_ARGUMENT",
                {"requestError": "INVALID_INPUT"},
                "The emulator takes exactly one create operation.",
            )
        create = operations[0]["create"]
        name = str(create.get("name") or "").strip()
        crm = create.get("crmBasedUserList") or {}
        if not name or len(name) > LIST_NAME_MAX:
            return self._list_error("INVALID_NAME", "User list name is empty or invalid.", name)
        if crm.get("uploadKeyType") not in ("CONTACT_INFO", "CRM_ID", "MOBILE_ADVERTISING_ID"):
            return self._list_error("CONCRETE_TYPE_REQUIRED", "Concrete type is required.", name)
        span = str(create.get("membershipLifeSpan", "10000"))
        if not span.isdigit() or not (
            int(span) <= LIFE_SPAN_MAX_DAYS or int(span) == UNLIMITED_LIFE_SPAN
        ):
            return self._ads_failure(
                400, "INVALID_ARGUMENT", {"rangeError": "TOO_HIGH"}, "Too high.", trigger=span
            )
        if any(ul.customer_id == cid and ul.name == name for ul in self.ads_lists.values()):
            return self._list_error(
                "NAME_ALREADY_USED",
                "Name is already being used for another user list for the account.",
                name,
            )
        user_list = AdsUserList(
            id=str(next(self._list_ids)),
            customer_id=cid,
            name=name,
            description=str(create.get("description") or ""),
            membership_life_span=span,
            upload_key_type=str(crm["uploadKeyType"]),
        )
        self.ads_lists[user_list.id] = user_list
        self._new_destination(user_list.id)
        return Response(200, {"results": [{"resourceName": user_list.resource_name}]})

    def _ads_search(self, request: Request) -> Response:
        cid = request.params["cid"]
        query = str((request.json() or {}).get("query") or "")
        match = _QUERY.match(query)
        if match is None:
            return self._ads_failure(
                400,
                "INVALID_ARGUMENT",
                {"queryError": "UNEXPECTED_INPUT"},
                "Error in query: the emulator understands only a user_list name filter.",
            )
        fields = [f.strip().lower() for f in match.group("fields").split(",")]
        unknown = [f for f in fields if f not in _FIELDS]
        if unknown:
            return self._ads_failure(
                400,
                "INVALID_ARGUMENT",
                {"queryError": "UNRECOGNIZED_FIELD"},
                f"Unrecognized field in the query: '{unknown[0]}'.",
            )
        literal = match.group("literal")[1:-1]
        name = _ESCAPE.sub(lambda m: m.group(1), literal)
        rows = [
            {"userList": {_FIELDS[f]: ul.row()[_FIELDS[f]] for f in fields}}
            for ul in self.ads_lists.values()
            if ul.customer_id == cid and ul.name == name
        ]
        body: dict[str, Any] = {
            "fieldMask": ",".join(f"userList.{_FIELDS[f]}" for f in fields),
            "requestId": f"ads-{next(self._ads_request_ids)}",
        }
        if rows:  # proto3 JSON omits an empty repeated field
            body["results"] = rows
        return Response(200, body)

    def ads_snapshot(self) -> dict[str, Any]:
        return {
            list_id: {"name": ul.name, **ul.row(), "upload_key_type": ul.upload_key_type}
            for list_id, ul in self.ads_lists.items()
        }

    # ---- helpers --------------------------------------------------------------------------
    def _new_destination(self, list_id: str) -> None:
        raise NotImplementedError

    def _list_error(self, code: str, message: str, trigger: str) -> Response:
        return self._ads_failure(
            400, "INVALID_ARGUMENT", {"userListError": code}, message, trigger=trigger
        )

    def _ads_failure(
        self,
        status: int,
        status_name: str,
        error_code: dict[str, str],
        message: str,
        trigger: str | None = None,
    ) -> Response:
        error: dict[str, Any] = {"errorCode": error_code, "message": message}
        if trigger is not None:
            error["trigger"] = {"stringValue": trigger}
        failure = {
            "@type": "type.googleapis.com/google.ads.googleads.v26.errors.GoogleAdsFailure",
            "errors": [error],
            "requestId": f"ads-{next(self._ads_request_ids)}",
        }
        envelope = {
            "code": status,
            "message": "Request contains an invalid argument." if status == 400 else message,
            "status": status_name,
            "details": [failure],
        }
        return Response(status, {"error": envelope})
