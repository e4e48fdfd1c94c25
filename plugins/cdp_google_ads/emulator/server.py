"""A local Data Manager API (Customer Match) plus the OAuth token endpoint it needs.

Shapes follow the REST reference (developers.google.com/data-manager/api/reference/rest/v1):
``POST /v1/audienceMembers:ingest`` and ``:remove`` take ``destinations[]``,
``audienceMembers[]`` (≤10,000, each ``userData.userIdentifiers[]`` of ``emailAddress``,
``phoneNumber`` or ``address``), ``consent``, ``encoding`` and, for ingest, ``termsOfService``;
they answer ``{requestId}``. ``GET /v1/requestStatus:retrieve?requestId=`` reports per
destination ``PROCESSING`` (first poll) then ``SUCCESS`` with record counts and
``uploadMatchRateRange``, computed against a seeded set of "platform users" (hashes).
Errors use the standard Google envelope with ``google.rpc.BadRequest`` field violations.
The Data Manager API's own UserListService (v1.5) lives in ``user_lists.py``; the older Google
Ads API calls that find and create user lists in ``ads_api.py``. Lists created through either
are valid ``productDestinationId`` values here.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import itertools
import json
import random
import re
from dataclasses import dataclass, field
from typing import Any, ClassVar
from urllib.parse import parse_qs

from cdp_google_ads.emulator.ads_api import ADS_PATH, AdsApiMixin
from cdp_google_ads.emulator.consent import consent_value_errors, denied_ad_user_data
from cdp_google_ads.emulator.user_lists import UserListServiceMixin
from cdp_google_ads.limits import DATA_MANAGER_CALLS, DATA_MANAGER_WINDOW, MEMBERS_PER_REQUEST
from connector.sdk import EmulatorOptions, EmulatorServer, RateLimit, Request, Response

__all__ = ["GoogleAdsEmulator", "match_rate_range"]

_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_DATAMANAGER = "https://www.googleapis.com/auth/datamanager"
_ADWORDS = "https://www.googleapis.com/auth/adwords"
_STATUS = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
}
_RANGES = [
    (20, "LESS_THAN_20"),
    (31, "20_TO_30"),
    (41, "31_TO_40"),
    (51, "41_TO_50"),
    (61, "51_TO_60"),
    (71, "61_TO_70"),
    (81, "71_TO_80"),
    (91, "81_TO_90"),
]


def match_rate_range(matched: int, total: int) -> str:
    """The ``MatchRateRange`` enum value for ``matched / total``."""
    if total == 0:
        return "MATCH_RATE_RANGE_NOT_ELIGIBLE"
    pct = 100 * matched / total
    for bound, name in _RANGES:
        if pct < bound:
            return f"MATCH_RATE_RANGE_{name}"
    return "MATCH_RATE_RANGE_91_TO_100"


@dataclass(slots=True)
class _UserList:
    members: dict[str, dict[str, Any]] = field(default_factory=dict)
    index: dict[str, str] = field(default_factory=dict)


class GoogleAdsEmulator(AdsApiMixin, UserListServiceMixin, EmulatorServer):
    platform: ClassVar[str] = "google_ads"
    client_id: ClassVar[str] = "emu-client"
    client_secret: ClassVar[str] = "emu-secret"  # noqa: S105 - fake platform
    refresh_token: ClassVar[str] = "emu-refresh"  # noqa: S105 - fake platform

    def __init__(self, options: EmulatorOptions | None = None) -> None:
        self.lists: dict[str, _UserList] = {}
        self.tokens: set[str] = set()
        self.requests_status: dict[str, dict[str, Any]] = {}
        self.platform_users: set[str] = set()
        self._ids = itertools.count(1)
        self._init_ads()
        self._init_user_lists()
        super().__init__(options)
        if self.options.seed_profiles:
            rng = random.Random(self.options.seed)
            for i in range(self.options.seed_profiles):
                if rng.random() < 0.6:
                    email = f"person{i}@example.com"
                    self.platform_users.add(hashlib.sha256(email.encode()).hexdigest())

    # ---- hooks ----------------------------------------------------------------------------
    def register_routes(self) -> None:
        self.route("POST", "/token", self._token)
        self.route("POST", "/v1/audienceMembers:ingest", lambda r: self._members(r, ingest=True))
        self.route("POST", "/v1/audienceMembers:remove", lambda r: self._members(r, ingest=False))
        self.route("GET", "/v1/requestStatus:retrieve", self._status)
        self.route("POST", "/{version}/customers/{cid}/userLists:mutate", self._ads_mutate)
        self.route("POST", "/{version}/customers/{cid}/googleAds:search", self._ads_search)
        self.routes(self.user_list_routes())

    def rate_limits(self) -> list[RateLimit]:
        return [RateLimit("datamanager", DATA_MANAGER_CALLS, DATA_MANAGER_WINDOW, path="/v1/*")]

    def authenticate(self, request: Request) -> Response | None:
        if request.path == "/token":
            return None
        header = request.header("authorization") or ""
        if not header.startswith("Bearer ") or header[7:] not in self.tokens:
            return self.error_response(401, "Request had invalid authentication credentials.")
        if ADS_PATH.match(request.path):
            return self._ads_denied(request, header[7:])
        return None

    def error_response(self, status: int, message: str, **extra: object) -> Response:
        details = extra.get("details") or []
        body = {
            "code": status,
            "message": message,
            "status": _STATUS.get(status, "UNKNOWN"),
            "details": details,
        }
        return Response(status, {"error": body})

    def snapshot(self) -> dict[str, Any]:
        return {
            "user_lists": {
                list_id: {
                    "members": list(ul.members.values()),
                    "member_count": len(ul.members),
                    "emails": sorted(
                        i for m in ul.members.values() for i in m.get("emailAddress", [])
                    ),
                }
                for list_id, ul in self.lists.items()
            },
            "requests": self.requests_status,
            "platform_users": len(self.platform_users),
            "ads_user_lists": self.ads_snapshot(),
            "data_manager_user_lists": self.user_lists_snapshot(),
        }

    def seed(self, payload: dict[str, Any]) -> dict[str, Any]:
        """``{"platform_users": [hex hash, ...]}`` (email or phone hashes)."""
        self.platform_users.update(str(h).lower() for h in payload.get("platform_users", []))
        return {"platform_users": len(self.platform_users)}

    def reset(self) -> None:
        self.lists.clear()
        self.ads_lists.clear()
        self.dm_lists.clear()
        self.requests_status.clear()
        self.platform_users.clear()

    # ---- handlers -------------------------------------------------------------------------
    def _token(self, request: Request) -> Response:
        form = {k: v[0] for k, v in parse_qs(request.body.decode()).items()}
        grant = form.get("grant_type")
        # A refresh token carries the scopes consented to; the emulator's stands for a grant of
        # both. A service account asks for its scopes in the JWT.
        scope = f"{_DATAMANAGER} {_ADWORDS}"
        if grant == "refresh_token":
            ok = (form.get("client_id"), form.get("client_secret"), form.get("refresh_token")) == (
                self.client_id,
                self.client_secret,
                self.refresh_token,
            )
        elif grant == "urn:ietf:params:oauth:grant-type:jwt-bearer":
            ok = self._jwt_ok(form.get("assertion", ""))
            scope = self._jwt_scope(form.get("assertion", ""))
        else:
            return Response(400, {"error": "unsupported_grant_type"})
        if not ok:
            return Response(400, {"error": "invalid_grant", "error_description": "Bad credentials"})
        token = f"ya29.emu-{next(self._ids)}"
        self.tokens.add(token)
        self.token_scopes[token] = scope
        return Response(
            200,
            {
                "access_token": token,
                "expires_in": 3599,
                "token_type": "Bearer",
                "scope": scope,
            },
        )

    @staticmethod
    def _jwt_scope(assertion: str) -> str:
        try:
            claims = json.loads(base64.urlsafe_b64decode(assertion.split(".")[1] + "=="))
        except (ValueError, IndexError, binascii.Error):
            return ""
        return str(claims.get("scope") or "")

    def _new_destination(self, list_id: str) -> None:
        self.lists.setdefault(list_id, _UserList())

    def _drop_destination(self, list_id: str) -> None:
        self.lists.pop(list_id, None)

    @staticmethod
    def _jwt_ok(assertion: str) -> bool:
        """Structure and claims of a service-account JWT (the signature is not verified)."""
        parts = assertion.split(".")
        if len(parts) != 3:
            return False
        try:
            header = json.loads(base64.urlsafe_b64decode(parts[0] + "=="))
            claims = json.loads(base64.urlsafe_b64decode(parts[1] + "=="))
        except (ValueError, binascii.Error):
            return False
        return (
            header.get("alg") == "RS256"
            and "datamanager" in str(claims.get("scope"))
            and bool(claims.get("iss"))
        )

    def _bad(
        self,
        message: str,
        violations: list[dict[str, str]] | None = None,
        reason: str = "INVALID_ARGUMENT",
    ) -> Response:
        details: list[dict[str, Any]] = [
            {
                "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                "reason": reason,
                "domain": "datamanager.googleapis.com",
            }
        ]
        if violations:
            details.insert(
                0,
                {
                    "@type": "type.googleapis.com/google.rpc.BadRequest",
                    "fieldViolations": violations,
                },
            )
        return self.error_response(400, message, details=details)

    def _validate(
        self, body: dict[str, Any], destinations: list[Any], members: list[Any], *, ingest: bool
    ) -> Response | None:
        if not destinations or not members:
            return self._bad("destinations and audienceMembers are required")
        if len(members) > MEMBERS_PER_REQUEST:
            return self._bad(
                "At most 10000 audience members per request", reason="TOO_MANY_AUDIENCE_MEMBERS"
            )
        for dest in destinations:
            account = dest.get("operatingAccount") or {}
            if not (account.get("accountId") and dest.get("productDestinationId")):
                return self._bad("destination needs operatingAccount and productDestinationId")
        encoding = body.get("encoding")
        if encoding not in ("HEX", "BASE64"):
            return self._bad("encoding is required for UserData uploads", reason="INVALID_ENCODING")
        if ingest:
            tos = (body.get("termsOfService") or {}).get("customerMatchTermsOfServiceStatus")
            if tos != "ACCEPTED":
                return self._bad(
                    "Customer Match terms of service not accepted",
                    reason="CUSTOMER_MATCH_TERMS_OF_SERVICE_NOT_ACCEPTED",
                )
        return None

    def _members(self, request: Request, *, ingest: bool) -> Response:
        body = request.json() or {}
        destinations = body.get("destinations") or []
        members = body.get("audienceMembers") or []
        denied = self._validate(body, destinations, members, ingest=ingest)
        if denied is not None:
            return denied
        encoding = str(body["encoding"])
        if bad_enum := consent_value_errors(body):
            return self._bad(bad_enum[0]["description"], bad_enum)
        parsed: list[dict[str, Any]] = []
        violations: list[dict[str, str]] = []
        for i, member in enumerate(members):
            entry, problem = self._member(member, encoding)
            if problem:
                violations.append(
                    {"field": f"audience_members[{i}].{problem[0]}", "description": problem[1]}
                )
            parsed.append(entry)
        if violations:
            return self._bad(
                "There was a problem with the request.", violations, reason="INVALID_FORMAT"
            )
        statuses = []
        for dest in destinations:
            user_list = self.lists.setdefault(str(dest["productDestinationId"]), _UserList())
            counted = matched = ids = 0
            for member, entry in zip(members, parsed, strict=True):
                if ingest and denied_ad_user_data(body, member):
                    continue  # ad-user-data consent denied: not ingested
                counted += 1
                ids += sum(len(v) for v in entry.values())
                hashes = entry.get("emailAddress", []) + entry.get("phoneNumber", [])
                matched += any(h in self.platform_users for h in hashes)
                (self._add if ingest else self._remove)(user_list, entry)
            key = "audienceMembersIngestionStatus" if ingest else "audienceMembersRemovalStatus"
            stats: dict[str, Any] = {"recordCount": str(counted), "userIdentifierCount": str(ids)}
            if ingest:
                stats["uploadMatchRateRange"] = match_rate_range(matched, counted)
            statuses.append(
                {
                    "destination": dest,
                    "requestStatus": "SUCCESS",
                    key: {"userDataIngestionStatus" if ingest else "userDataRemovalStatus": stats},
                }
            )
        request_id = f"req-{next(self._ids)}"
        self.requests_status[request_id] = {"polls": 0, "statuses": statuses}
        return Response(200, {"requestId": request_id})

    @staticmethod
    def _member(
        member: dict[str, Any], encoding: str
    ) -> tuple[dict[str, Any], tuple[str, str] | None]:
        identifiers = (member.get("userData") or {}).get("userIdentifiers") or []
        if not identifiers or len(identifiers) > 10:
            return {}, ("user_data", "between 1 and 10 userIdentifiers are required")
        entry: dict[str, Any] = {}
        for j, ident in enumerate(identifiers):
            for key in ("emailAddress", "phoneNumber"):
                if key in ident:
                    value = _decode(str(ident[key]), encoding)
                    if value is None:
                        return {}, (
                            f"user_data.user_identifiers[{j}]",
                            f"{key} is not a SHA-256 {encoding} hash",
                        )
                    entry.setdefault(key, []).append(value)
            if "address" in ident:
                address = ident["address"]
                names = [
                    _decode(str(address.get(k, "")), encoding) for k in ("givenName", "familyName")
                ]
                if None in names or not address.get("regionCode") or not address.get("postalCode"):
                    return {}, (f"user_data.user_identifiers[{j}].address", "incomplete address")
                entry.setdefault("address", []).append(address)
        return entry, None

    @staticmethod
    def _key(entry: dict[str, Any]) -> list[str]:
        return [f"e:{h}" for h in entry.get("emailAddress", [])] + [
            f"p:{h}" for h in entry.get("phoneNumber", [])
        ]

    def _add(self, user_list: _UserList, entry: dict[str, Any]) -> None:
        keys = self._key(entry) or [json.dumps(entry, sort_keys=True)]
        for k in keys:
            if k in user_list.index:
                user_list.members.pop(user_list.index[k], None)
        user_list.members[keys[0]] = entry
        for k in keys:
            user_list.index[k] = keys[0]

    def _remove(self, user_list: _UserList, entry: dict[str, Any]) -> None:
        keys = self._key(entry) or [json.dumps(entry, sort_keys=True)]
        for k in keys:
            mkey = user_list.index.pop(k, None)
            if mkey is not None:
                gone = user_list.members.pop(mkey, None) or {}
                for other in self._key(gone):
                    user_list.index.pop(other, None)
        user_list.members.pop(keys[0], None)

    def _status(self, request: Request) -> Response:
        record = self.requests_status.get(request.arg("requestId") or "")
        if record is None:
            return self.error_response(404, "Request not found.")
        record["polls"] += 1
        if record["polls"] == 1:  # the first poll sees the request still processing
            pending = [
                {"destination": s["destination"], "requestStatus": "PROCESSING"}
                for s in record["statuses"]
            ]
            return Response(200, {"requestStatusPerDestination": pending})
        return Response(200, {"requestStatusPerDestination": record["statuses"]})


def _decode(value: str, encoding: str) -> str | None:
    """The hash as lowercase hex, or None when it is not a SHA-256 digest in ``encoding``."""
    if encoding == "HEX":
        return value if _HEX64.match(value) else None
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return None
    return raw.hex() if len(raw) == 32 else None
