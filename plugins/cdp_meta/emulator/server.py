"""A local Graph API for Custom Audiences: what the facebook-business SDK calls, and no more.

Wire shapes were logged from the real SDK (facts/ads-segment-scheduling.md 1.2): form-encoded
POST bodies whose dict/list fields are JSON, the access token in the query string, DELETE with
the whole payload in the URL. State per audience is the set of member rows (schema key -> hash),
indexed by their strong keys (EMAIL, PHONE, EXTERN_ID) so a removal matches the way Meta
matches. A seeded set of "platform users" (hashes) lets the emulator report how many members
matched, as ``approximate_count_lower_bound`` on the audience.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import random
import re
from dataclasses import dataclass, field
from datetime import date
from typing import Any, ClassVar
from urllib.parse import parse_qs

from cdp_meta.limits import CUSTOM_AUDIENCE_CALLS, CUSTOM_AUDIENCE_WINDOW, USERS_PER_REQUEST
from cdp_meta.versions import LATEST_VERSION, VERSION_PATTERN, expired
from connector.sdk import EmulatorOptions, EmulatorServer, RateLimit, RateLimiter, Request, Response

__all__ = ["MetaEmulator", "seeded_email"]

_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_CLEAR_KEYS = frozenset({"EXTERN_ID", "LOOKALIKE_VALUE", "MADID", "DATA_PROCESSING_OPTIONS"})
_STRONG_KEYS = ("EMAIL", "PHONE", "EXTERN_ID", "MADID")
_TRANSIENT = {1: "An unknown error occurred", 2: "Service temporarily unavailable"}


def seeded_email(i: int) -> str:
    """The email of seeded platform user ``i`` (what ``seed_profiles`` hashes)."""
    return f"person{i}@example.com"


@dataclass(slots=True)
class Audience:
    id: str
    account: str
    name: str
    description: str = ""
    subtype: str = "CUSTOM"
    customer_file_source: str = ""
    is_value_based: bool = False
    members: dict[str, dict[str, str]] = field(default_factory=dict)
    index: dict[tuple[str, str], str] = field(default_factory=dict)

    def member_key(self, row: dict[str, str]) -> str:
        for key in _STRONG_KEYS:
            if row.get(key):
                return f"{key}:{row[key]}"
        return "ROW:" + "|".join(f"{k}={v}" for k, v in sorted(row.items()))

    def add(self, row: dict[str, str]) -> None:
        for key in _STRONG_KEYS:  # a row naming a known person updates that person
            if row.get(key) and (key, row[key]) in self.index:
                self._drop(self.index[(key, row[key])])
        mkey = self.member_key(row)
        self.members[mkey] = row
        for key in _STRONG_KEYS:
            if row.get(key):
                self.index[(key, row[key])] = mkey

    def remove(self, row: dict[str, str]) -> int:
        found = {self.index[(k, row[k])] for k in _STRONG_KEYS if (k, row.get(k, "")) in self.index}
        if not found and self.member_key(row) in self.members:
            found = {self.member_key(row)}
        for mkey in found:
            self._drop(mkey)
        return len(found)

    def _drop(self, mkey: str) -> None:
        row = self.members.pop(mkey, None) or {}
        for key in _STRONG_KEYS:
            if row.get(key):
                self.index.pop((key, row[key]), None)


class MetaEmulator(EmulatorServer):
    """Graph API ``/{version}/act_{id}/customaudiences`` and ``/{audience}/users|usersreplace``."""

    platform: ClassVar[str] = "meta"
    access_token: ClassVar[str] = "meta-test-token"  # noqa: S105 - fake platform

    def __init__(self, options: EmulatorOptions | None = None) -> None:
        self.audiences: dict[str, Audience] = {}
        self.platform_users: set[tuple[str, str]] = set()
        self.replace_sessions: dict[tuple[str, int], list[dict[str, str]]] = {}
        self._ids = itertools.count(23850000000000001)
        self.today = date.today()  # the day versions expire against; seed {"today": ...}
        super().__init__(options)
        if self.options.seed_profiles:
            self._seed_people(self.options.seed_profiles, self.options.seed)

    # ---- hooks ----------------------------------------------------------------------------
    def register_routes(self) -> None:
        self.route("POST", "/{version}/{account}/customaudiences", self._create)
        self.route("GET", "/{version}/{account}/customaudiences", self._list)
        self.route("GET", "/{version}/{audience}", self._get)
        self.route("POST", "/{version}/{audience}/users", self._add_users)
        self.route("DELETE", "/{version}/{audience}/users", self._remove_users)
        self.route("POST", "/{version}/{audience}/usersreplace", self._replace)

    def rate_limits(self) -> list[RateLimit]:
        return [RateLimit("custom_audience", CUSTOM_AUDIENCE_CALLS, CUSTOM_AUDIENCE_WINDOW)]

    def authenticate(self, request: Request) -> Response | None:
        refused = self._version_refused(request.path.lstrip("/").split("/", 1)[0])
        if refused is not None:
            return refused
        # the Graph API takes the token as a query parameter or an OAuth/Bearer header
        scheme, _, header_token = (request.header("authorization") or "").partition(" ")
        token = (
            header_token if scheme.lower() in ("oauth", "bearer") else request.arg("access_token")
        )
        if token != self.access_token:
            return self.graph_error(400, 190, "Invalid OAuth access token.", kind="OAuthException")
        return None

    def _version_refused(self, version: str) -> Response | None:
        """An expired version gets Graph's (#2635), HTTP 400 OAuthException (developers.facebook
        .com/blog/post/2024/04/16/upcoming-change-in-marketing-api-version-deprecation,
        facebook-nodejs-business-sdk issue 6). Meta may instead auto-upgrade calls to endpoints
        a release left unchanged; the refusal is the case a connector must survive."""
        if not VERSION_PATTERN.match(version):
            return self.graph_error(400, 2500, f"Unknown path components: /{version}")
        if expired(version, self.today):
            return self.graph_error(
                400,
                2635,
                "(#2635) You are calling a deprecated version of the Ads API. "
                f"Please update to the latest version: {LATEST_VERSION}.",
            )
        return None

    def error_response(self, status: int, message: str, **extra: object) -> Response:
        if status == 401:  # Graph answers an expired or revoked token with OAuthException 190
            return self.graph_error(
                401,
                190,
                "Error validating access token: Session has expired.",
                kind="OAuthException",
            )
        code = 2 if status >= 500 else (17 if status == 429 else 100)
        return self.graph_error(status, code, message, transient=status >= 500 or status == 429)

    def rate_limited_response(self, limit: RateLimit, retry_after: float) -> Response:
        # Meta throttles with code 80003 and the BUC header, not a 429 + Retry-After.
        minutes = max(1, RateLimiter.whole_seconds(retry_after) // 60)
        resp = self.graph_error(
            400, 80003, "There have been too many calls to this ad-account.", subcode=2446079
        )
        usage = [
            {
                "type": "custom_audience",
                "call_count": 100,
                "estimated_time_to_regain_access": minutes,
            }
        ]
        resp.headers["X-Business-Use-Case-Usage"] = json.dumps({"111": usage})
        return resp

    def graph_error(
        self,
        status: int,
        code: int,
        message: str,
        *,
        subcode: int | None = None,
        transient: bool = False,
        kind: str = "OAuthException",
    ) -> Response:
        body: dict[str, Any] = {
            "message": message,
            "type": kind,
            "code": code,
            "is_transient": transient,
            "fbtrace_id": "AEmuLaToR",
        }
        if subcode is not None:
            body["error_subcode"] = subcode
        return Response(status, {"error": body})

    def snapshot(self) -> dict[str, Any]:
        return {
            "audiences": {
                a.id: {
                    "id": a.id,
                    "account": a.account,
                    "name": a.name,
                    "description": a.description,
                    "is_value_based": a.is_value_based,
                    "members": list(a.members.values()),
                    "member_count": len(a.members),
                    "matched": self._matched(a),
                    "match_rate": self._matched(a) / len(a.members) if a.members else 0.0,
                }
                for a in self.audiences.values()
            },
            "platform_users": len(self.platform_users),
            "open_replace_sessions": len(self.replace_sessions),
        }

    def seed(self, payload: dict[str, Any]) -> dict[str, Any]:
        """``{"platform_users": {"EMAIL": [hash...], "PHONE": [...]}}`` or ``{"profiles": N}``."""
        if payload.get("today"):
            self.today = date.fromisoformat(str(payload["today"]))
        users = payload.get("platform_users") or {}
        for key, hashes in users.items():
            self.platform_users.update((str(key), str(h).lower()) for h in hashes)
        if payload.get("profiles"):
            self._seed_people(int(payload["profiles"]), int(payload.get("seed", 0)))
        return {"platform_users": len(self.platform_users)}

    def reset(self) -> None:
        self.today = date.today()
        self.audiences.clear()
        self.platform_users.clear()
        self.replace_sessions.clear()

    def _seed_people(self, n: int, seed: int) -> None:
        # 70% of seeded people "have an account": a realistic customer-file match rate.
        rng = random.Random(seed)
        for i in range(n):
            if rng.random() < 0.7:
                digest = hashlib.sha256(seeded_email(i).encode()).hexdigest()
                self.platform_users.add(("EMAIL", digest))

    def _matched(self, audience: Audience) -> int:
        return sum(
            1
            for row in audience.members.values()
            if any((k, row.get(k, "")) in self.platform_users for k in ("EMAIL", "PHONE"))
        )

    # ---- handlers -------------------------------------------------------------------------
    @staticmethod
    def _form(request: Request) -> dict[str, str]:
        parsed = parse_qs(request.body.decode("utf-8"), keep_blank_values=True)
        return {k: v[0] for k, v in parsed.items()}

    def _create(self, request: Request) -> Response:
        form = self._form(request)
        account = request.params["account"]
        if not account.startswith("act_"):
            return self.graph_error(400, 100, "Invalid parameter: ad account id needs act_")
        name = form.get("name", "").strip()
        if not name:
            return self.graph_error(400, 100, "Invalid parameter: name is required")
        if form.get("subtype") == "CUSTOM" and not form.get("customer_file_source"):
            return self.graph_error(400, 100, "customer_file_source is required", subcode=1870227)
        audience = Audience(
            id=str(next(self._ids)),
            account=account,
            name=name,
            description=form.get("description", ""),
            subtype=form.get("subtype", "CUSTOM"),
            customer_file_source=form.get("customer_file_source", ""),
            is_value_based=form.get("is_value_based") in ("true", "1"),
        )
        self.audiences[audience.id] = audience
        return Response(200, {"id": audience.id})

    def _list(self, request: Request) -> Response:
        account = request.params["account"]
        rows = [a for a in self.audiences.values() if a.account == account]
        limit = int(request.arg("limit", "25") or 25)
        start = int(request.arg("after", "0") or 0)
        page = rows[start : start + limit]
        body: dict[str, Any] = {"data": [self._fields(a, request) for a in page]}
        if start + limit < len(rows):
            after = str(start + limit)
            body["paging"] = {"cursors": {"before": str(start), "after": after}, "next": "more"}
        return Response(200, body)

    def _fields(self, audience: Audience, request: Request) -> dict[str, Any]:
        matched = self._matched(audience)
        every: dict[str, Any] = {
            "id": audience.id,
            "name": audience.name,
            "description": audience.description,
            "subtype": audience.subtype,
            "customer_file_source": audience.customer_file_source,
            "approximate_count_lower_bound": matched,
            "approximate_count_upper_bound": matched,
            "operation_status": {"code": 200, "description": "Normal"},
        }
        wanted = [f for f in (request.arg("fields") or "id,name").split(",") if f]
        return {k: every[k] for k in ["id", *wanted] if k in every}

    def _get(self, request: Request) -> Response:
        audience = self.audiences.get(request.params["audience"])
        if audience is None:
            return self.graph_error(400, 100, "Unsupported get request.", subcode=33)
        return Response(200, self._fields(audience, request))

    def _payload(self, raw: str | None) -> tuple[list[str], list[list[Any]]] | Response:
        try:
            payload = json.loads(raw or "")
            schema = payload["schema"]
            data = payload["data"]
        except (ValueError, KeyError, TypeError):
            return self.graph_error(400, 100, "Invalid parameter: payload")
        if isinstance(schema, str):
            schema = [schema]
            data = [[d] for d in data]
        if len(data) > USERS_PER_REQUEST:
            return self.graph_error(400, 100, "Too many users in one request", subcode=1870053)
        return list(schema), data

    def _rows(
        self, schema: list[str], data: list[list[Any]]
    ) -> tuple[list[dict[str, str]], int, list[str]]:
        rows: list[dict[str, str]] = []
        invalid = 0
        samples: list[str] = []
        for entry in data:
            if not isinstance(entry, list) or len(entry) != len(schema):
                invalid += 1
                continue
            row = {k: str(v) for k, v in zip(schema, entry, strict=True) if v not in ("", None)}
            bad = [k for k, v in row.items() if k not in _CLEAR_KEYS and not _HEX64.match(v)]
            if bad or not row:
                invalid += 1
                if len(samples) < 5:
                    samples.append(",".join(bad) or "empty row")
                continue
            rows.append(row)
        return rows, invalid, samples

    def _audience(self, request: Request) -> Audience | Response:
        audience = self.audiences.get(request.params["audience"])
        if audience is None:
            return self.graph_error(400, 100, "Unsupported post request.", subcode=33)
        return audience

    def _write(self, request: Request, raw_payload: str | None, *, remove: bool) -> Response:
        audience = self._audience(request)
        if isinstance(audience, Response):
            return audience
        parsed = self._payload(raw_payload)
        if isinstance(parsed, Response):
            return parsed
        rows, invalid, samples = self._rows(*parsed)
        for row in rows:
            if remove:
                audience.remove(row)
            else:
                audience.add(row)
        return Response(200, self._receipt(audience, len(parsed[1]), invalid, samples))

    @staticmethod
    def _receipt(
        audience: Audience, received: int, invalid: int, samples: list[str]
    ) -> dict[str, Any]:
        return {
            "audience_id": audience.id,
            "session_id": str(random.getrandbits(48)),
            "num_received": received,
            "num_invalid_entries": invalid,
            "invalid_entry_samples": {s: "invalid" for s in samples},
        }

    def _add_users(self, request: Request) -> Response:
        return self._write(request, self._form(request).get("payload"), remove=False)

    def _remove_users(self, request: Request) -> Response:
        return self._write(request, request.arg("payload"), remove=True)

    def _replace(self, request: Request) -> Response:
        """usersreplace: batches staged per session, swapped in on ``last_batch_flag``."""
        audience = self._audience(request)
        if isinstance(audience, Response):
            return audience
        form = self._form(request)
        try:
            session = json.loads(form.get("session", ""))
            session_id, seq = int(session["session_id"]), int(session["batch_seq"])
        except (ValueError, KeyError, TypeError):
            return self.graph_error(400, 100, "Invalid parameter: session")
        parsed = self._payload(form.get("payload"))
        if isinstance(parsed, Response):
            return parsed
        rows, invalid, samples = self._rows(*parsed)
        key = (audience.id, session_id)
        if seq == 1:
            self.replace_sessions[key] = []
        elif key not in self.replace_sessions:
            return self.graph_error(400, 100, "Replace session not found", subcode=2650012)
        self.replace_sessions[key].extend(rows)
        if session.get("last_batch_flag"):
            audience.members.clear()
            audience.index.clear()
            for row in self.replace_sessions.pop(key):
                audience.add(row)
        return Response(200, self._receipt(audience, len(parsed[1]), invalid, samples))
