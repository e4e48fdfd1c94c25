"""A local Segment: the HTTP Tracking API batch endpoint and the Profile API traits endpoint.

Wire facts (shared/facts/ads-segment-scheduling.md, section 3):
- ``POST /v1/batch`` with ``Authorization: Basic base64("<writeKey>:")``, optionally gzipped;
  body ``{"batch": [...], "sentAt", "writeKey"}``. A message over 32 KB or a batch over 500 KB
  is refused with 400 and ``{"code", "message"}``: the SDK parses exactly those two keys into
  ``APIError`` (anything else becomes code ``unknown``).
- ``GET /v1/spaces/{space}/collections/users/profiles/{external_id}/traits``: Basic auth with
  the access token as user name; ``limit`` (≤200), ``next`` cursor; answer
  ``{"traits", "cursor": {"url", "has_more", "next", "limit"}}``; errors
  ``{"error": {"code", "message"}}``; 100 requests per second per space.

- ``POST /regulations`` (and ``/regulations/sources/{id}``): the Public API's deletion and
  suppression regulations, Bearer token, errors ``{"errors": [{"type", "message"}]}``
  (``cdp_segment.emulator.regulations``).

Identify calls received on ``/v1/batch`` also update the Profile API's view of that user, so a
demo that pushes traits can read them back the way Segment's profiles would show them.
"""

from __future__ import annotations

import base64
import gzip
import json
import threading
import time
from collections import Counter
from typing import Any, ClassVar
from urllib.parse import quote, unquote

from cdp_segment.emulator.regulations import PUBLIC_API_PREFIX, RegulationRoutes
from cdp_segment.limits import (
    MAX_BATCH_BYTES,
    MAX_MESSAGE_BYTES,
    PROFILE_API_CALLS,
    PROFILE_API_TRAITS_PAGE,
    PROFILE_API_WINDOW,
)
from connector.sdk import EmulatorOptions, EmulatorServer, RateLimit, Request, Response

__all__ = ["SegmentEmulator"]

_PROFILE_PREFIX = "/v1/spaces/"


class SegmentEmulator(EmulatorServer):
    platform: ClassVar[str] = "segment"

    def __init__(
        self, options: EmulatorOptions | None = None, *, write_keys: set[str] | None = None
    ) -> None:
        self.write_keys = write_keys  # None: any non-empty key is accepted, like a fresh source
        self.access_tokens: set[str] | None = None
        self.public_api_tokens: set[str] | None = None
        self.messages: list[dict[str, Any]] = []
        self.message_ids: Counter[str] = Counter()
        self.profiles: dict[str, dict[str, Any]] = {}  # "user_id:u1" / "email:x" → traits
        self.batches = 0
        self._local = threading.local()
        self.privacy = RegulationRoutes(self)
        super().__init__(options)
        if self.options.seed_profiles:
            self.seed({"count": self.options.seed_profiles})

    # ---- contract hooks ---------------------------------------------------------------------
    def register_routes(self) -> None:
        self.route("POST", "/v1/batch", self._batch)
        self.route(
            "GET",
            "/v1/spaces/{space}/collections/users/profiles/{external_id}/traits",
            self._traits,
        )
        self.privacy.register()

    def rate_limits(self) -> list[RateLimit]:
        # the emulator serves one space per path prefix glob
        path = f"{_PROFILE_PREFIX}*"
        return [
            RateLimit("profile-api", PROFILE_API_CALLS, PROFILE_API_WINDOW, path=path, method="GET")
        ]

    def dispatch(self, request: Request) -> tuple[Response, Any]:
        self._local.profile = request.path.startswith(_PROFILE_PREFIX)
        self._local.public = request.path.startswith(PUBLIC_API_PREFIX)
        return super().dispatch(request)

    def error_response(self, status: int, message: str, **extra: Any) -> Response:
        code = _CODES.get(status, "server_error" if status >= 500 else "invalid_request")
        if getattr(self._local, "public", False):
            return Response(status, {"errors": [{"type": code, "message": message, **extra}]})
        if getattr(self._local, "profile", False):
            pcode = _PROFILE_CODES.get(status, code)
            return Response(status, {"error": {"code": pcode, "message": message, **extra}})
        return Response(status, {"code": code, "message": message, **extra})

    def authenticate(self, request: Request) -> Response | None:
        if request.path.startswith(PUBLIC_API_PREFIX):
            token = _bearer(request.header("authorization"))
            if not token or (
                self.public_api_tokens is not None and token not in self.public_api_tokens
            ):
                return self.error_response(401, "Public API token missing or invalid")
            return None
        user = _basic_user(request.header("authorization"))
        if request.path.startswith(_PROFILE_PREFIX):
            if not user or (self.access_tokens is not None and user not in self.access_tokens):
                return self.error_response(401, "access token missing or invalid")
            return None
        if not user or (self.write_keys is not None and user not in self.write_keys):
            return self.error_response(401, "write key missing or invalid")
        return None

    def snapshot(self) -> dict[str, Any]:
        users = {
            k[len("user_id:") :]: v for k, v in self.profiles.items() if k.startswith("user_id:")
        }
        return {
            "batches": self.batches,
            "messages": self.messages,
            "duplicate_message_ids": sum(n - 1 for n in self.message_ids.values() if n > 1),
            "users": users,
            "profiles": len(self.profiles),
            "regulations": list(self.privacy.regulations),
        }

    def seed(self, payload: dict[str, Any]) -> dict[str, Any]:
        if "write_keys" in payload:
            self.write_keys = set(payload["write_keys"])
        if "access_tokens" in payload:
            self.access_tokens = set(payload["access_tokens"])
        if "public_api_tokens" in payload:
            self.public_api_tokens = set(payload["public_api_tokens"])
        count = 0
        for item in payload.get("profiles", []):
            self._merge_profile(str(item["user_id"]), dict(item.get("traits") or {}))
            count += 1
        for i in range(int(payload.get("count", 0))):
            self._merge_profile(*_generated_profile(i, self.options.seed))
            count += 1
        return {"profiles": count}

    def reset(self) -> None:
        self.messages.clear()
        self.message_ids.clear()
        self.profiles.clear()
        self.batches = 0
        self.privacy.regulations.clear()
        self.privacy.suppressed.clear()

    # ---- tracking API -----------------------------------------------------------------------
    def _batch(self, request: Request) -> Response:
        raw = request.body
        if (request.header("content-encoding") or "").lower() == "gzip":
            try:
                raw = gzip.decompress(raw)
            except OSError:
                return self.error_response(400, "body is not valid gzip")
        if len(raw) > MAX_BATCH_BYTES:
            return self.error_response(400, f"batch of {len(raw)} bytes exceeds the 500KB limit")
        try:
            body = json.loads(raw)
        except ValueError:
            return self.error_response(400, "body is not valid JSON")
        batch = body.get("batch") if isinstance(body, dict) else None
        if not isinstance(batch, list):
            return self.error_response(400, "batch must be an array of messages")
        for index, msg in enumerate(batch):
            problem = _message_problem(msg)
            if problem:
                return self.error_response(400, f"message {index}: {problem}")
        received = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime())
        for msg in batch:
            if msg.get("userId") is not None and str(msg["userId"]) in self.privacy.suppressed:
                continue  # a suppressed userId's messages are dropped, the batch still succeeds
            stored = {**msg, "receivedAt": received}
            self.messages.append(stored)
            self.message_ids[str(msg.get("messageId"))] += 1
            if msg.get("type") == "identify" and msg.get("userId") is not None:
                self._merge_profile(str(msg["userId"]), dict(msg.get("traits") or {}))
        self.batches += 1
        return Response(200, {"success": True})

    def _merge_profile(self, user_id: str, traits: dict[str, Any]) -> None:
        profile = self.profiles.setdefault(f"user_id:{user_id}", {})
        profile.update(traits)
        email = traits.get("email") or profile.get("email")
        if isinstance(email, str) and email:
            self.profiles[f"email:{email}"] = profile

    def forget_user(self, user_id: str) -> None:
        """A deletion regulation: the user's profile (and its email alias) and messages go."""
        profile = self.profiles.pop(f"user_id:{user_id}", None)
        if profile is not None:
            for key in [k for k, v in self.profiles.items() if v is profile]:
                del self.profiles[key]
        self.messages[:] = [m for m in self.messages if str(m.get("userId")) != user_id]

    # ---- Profile API ------------------------------------------------------------------------
    def _traits(self, request: Request) -> Response:
        external_id = unquote(request.params["external_id"])
        profile = self.profiles.get(external_id)
        if profile is None:
            return self.error_response(404, "profile not found")
        try:
            limit = int(request.arg("limit", "10") or "10")
        except ValueError:
            return self.error_response(400, "limit must be an integer")
        if not 1 <= limit <= PROFILE_API_TRAITS_PAGE:
            return self.error_response(
                400, f"limit must be between 1 and {PROFILE_API_TRAITS_PAGE}"
            )
        names = sorted(profile)
        if include := request.args("include"):
            wanted = {n for item in include for n in item.split(",")}
            names = [n for n in names if n in wanted]
        start = request.arg("next")
        if start:
            names = [n for n in names if n >= start]
        page, rest = names[:limit], names[limit:]
        path = request.path + f"?limit={limit}"
        cursor: dict[str, Any] = {"url": path, "has_more": bool(rest), "next": "", "limit": limit}
        if rest:
            cursor["next"] = rest[0]
            cursor["url"] = f"{path}&next={quote(rest[0])}"
        return Response(200, {"traits": {n: profile[n] for n in page}, "cursor": cursor})


_CODES = {400: "invalid_request", 401: "unauthorized", 404: "not_found", 429: "rate_limited"}
_PROFILE_CODES = {
    400: "validation_error",
    401: "authentication_error",
    404: "not_found",
    429: "rate_limit_error",
}


def _basic_user(header: str | None) -> str | None:
    if not header or not header.lower().startswith("basic "):
        return None
    try:
        decoded = base64.b64decode(header[6:].strip(), validate=True).decode()
    except (ValueError, UnicodeDecodeError):
        return None
    user, _, _ = decoded.partition(":")
    return user or None


def _bearer(header: str | None) -> str | None:
    if not header or not header.lower().startswith("bearer "):
        return None
    return header[7:].strip() or None


def _message_problem(msg: object) -> str | None:
    if not isinstance(msg, dict):
        return "not an object"
    size = len(json.dumps(msg, separators=(",", ":")).encode())
    if size > MAX_MESSAGE_BYTES:
        return f"message of {size} bytes exceeds the 32KB limit"
    if msg.get("type") not in {"identify", "track", "page", "screen", "group", "alias"}:
        return "type is missing or unknown"
    if msg.get("userId") is None and msg.get("anonymousId") is None:
        return "userId or anonymousId is required"
    return None


def _generated_profile(i: int, seed: int) -> tuple[str, dict[str, Any]]:
    from cdp_segment.emulator.archive import person

    p = person(i, seed)
    return p.user_id, p.traits()
