"""The HubSpot emulator: CRM v3 contacts/deals, properties, associations v4 and lists v3.

Status codes follow the SDK's response maps exactly (facts §1.2): the SDK turns any 2xx it does
not expect into ``None``. Error bodies are HubSpot's (``status``, ``message``,
``correlationId``, ``category``). The batch endpoints reject a whole batch with 400 on one bad
input (no multi-status without ``objectWriteTraceId``), like the real API.
"""

from __future__ import annotations

import uuid
from typing import Any, ClassVar

from cdp_hubspot.emulator.crm import ObjectRoutes
from cdp_hubspot.emulator.lifecycle import MERGED, LifecycleRoutes
from cdp_hubspot.emulator.lists import ListRoutes
from cdp_hubspot.emulator.objects import ObjectStore
from cdp_hubspot.emulator.pipelines import (
    DEAL_PIPELINES,
    PipelineRoutes,
    derive_deal,
    stage_ids,
    stage_properties,
)
from cdp_hubspot.emulator.properties import PropertyRoutes
from cdp_hubspot.emulator.ratelimit import HubSpotLimiter
from cdp_hubspot.emulator.schema import DEFAULT_GROUPS, property_record
from cdp_hubspot.emulator.seed import seed_contacts, seed_deals, seed_people
from cdp_hubspot.emulator.values import now_ms
from cdp_hubspot.limits import DAILY_ENTERPRISE, REQUESTS_PER_10S_PRO, SEARCH_PER_SECOND
from connector.sdk import EmulatorOptions, EmulatorServer, RateLimit, RateLimiter, Request, Response

__all__ = ["HubSpotEmulator"]

_CATEGORY = {
    400: "VALIDATION_ERROR",
    401: "INVALID_AUTHENTICATION",
    403: "MISSING_SCOPES",
    404: "OBJECT_NOT_FOUND",
    405: "VALIDATION_ERROR",
    409: "CONFLICT",
    429: "RATE_LIMITS",
}
_AUTH_MESSAGE = (
    "Authentication credentials not found. This API supports OAuth 2.0 authentication and you "
    "can find more details at https://developers.hubspot.com/docs/methods/auth/oauth-overview"
)


class HubSpotEmulator(EmulatorServer):
    """A fake HubSpot portal; knobs are constructor keywords (and plain attributes)."""

    platform: ClassVar[str] = "hubspot"

    def __init__(
        self,
        options: EmulatorOptions | None = None,
        *,
        per_ten_seconds: int = REQUESTS_PER_10S_PRO,
        search_per_second: int = SEARCH_PER_SECOND,
        daily_limit: int = DAILY_ENTERPRISE,
        index_delay: float = 0.0,
        deals_per_profile: float = 0.32,
    ) -> None:
        self.revoked_tokens: set[str] = set()
        self.deals_per_profile = deals_per_profile
        self._init_state()
        super().__init__(options)
        self.limiter: HubSpotLimiter = HubSpotLimiter(
            per_ten_seconds, search_per_second, daily_limit
        )
        self.limiter.enabled = self.options.limits == "real"
        self.index_delay = index_delay
        if self.options.seed_profiles:
            self.seed({"profiles": self.options.seed_profiles})

    def _init_state(self) -> None:
        self.contacts = ObjectStore("contacts", "lastmodifieddate", first_id=1000)
        self.deals = ObjectStore("deals", "hs_lastmodifieddate", first_id=5_000_000)
        self.deals.derive = derive_deal
        self.deals.properties.update(stage_properties())
        self.deals.properties["dealstage"]["options"] = _options(stage_ids())
        self.deals.properties["pipeline"]["options"] = _options([p[0] for p in DEAL_PIPELINES])
        for store in (self.contacts, self.deals):
            store.properties[MERGED] = property_record(
                MERGED, "string", "text", "dealinformation" if store is self.deals
                else "contactinformation", hubspot_defined=True,
            )  # fmt: skip
        self.groups: dict[str, dict[str, dict[str, Any]]] = {
            t: {g: _group(g) for g in names} for t, names in DEFAULT_GROUPS.items()
        }
        self.lists: dict[str, dict[str, Any]] = {}
        self.members: dict[str, dict[str, str]] = {}
        self.next_list_id = 0

    @property
    def index_delay(self) -> float:
        return self.contacts.index_delay

    @index_delay.setter
    def index_delay(self, seconds: float) -> None:
        self.contacts.index_delay = seconds
        self.deals.index_delay = seconds

    def store(self, object_type: str) -> ObjectStore | None:
        if object_type in ("contacts", "contact", "0-1"):
            return self.contacts
        if object_type in ("deals", "deal", "0-3"):
            return self.deals
        return None

    # ---- base-class hooks -----------------------------------------------------------------
    def register_routes(self) -> None:
        LifecycleRoutes(self).register()  # before the generic /{objectId} routes
        objects = ObjectRoutes(self)
        objects.register()
        PipelineRoutes(self).register()
        PropertyRoutes(self).register()
        objects.register_associations()
        ListRoutes(self).register()

    def rate_limits(self) -> list[RateLimit]:
        return []  # HubSpotLimiter replaces the generic limiter in __init__

    def authenticate(self, request: Request) -> Response | None:
        auth = request.header("authorization") or ""
        token = auth[7:].strip() if auth.startswith("Bearer ") else ""
        if not token or token in self.revoked_tokens:
            return self.error_response(401, _AUTH_MESSAGE)
        return None

    def error_response(self, status: int, message: str, **extra: Any) -> Response:
        if status == 429:
            return self._rate_limit_body("TEN_SECONDLY_ROLLING")
        body: dict[str, Any] = {
            "status": "error",
            "message": message,
            "correlationId": str(uuid.uuid4()),
            "category": extra.pop("category", _CATEGORY.get(status, "VALIDATION_ERROR")),
        }
        body.update(extra)
        return Response(status, body)

    def rate_limited_response(self, limit: RateLimit, retry_after: float) -> Response:
        resp = self._rate_limit_body(limit.name)
        if limit.name == "DAILY":
            resp.headers["Retry-After"] = str(RateLimiter.whole_seconds(retry_after))
        return resp

    def _rate_limit_body(self, policy: str) -> Response:
        what = "daily" if policy == "DAILY" else policy.lower()
        return Response(
            429,
            {
                "status": "error",
                "message": f"You have reached your {what} limit.",
                "errorType": "RATE_LIMIT",
                "correlationId": str(uuid.uuid4()),
                "policyName": policy,
                "groupName": f"publicapi:private-app-api-calls-{what}",
            },
        )

    def dispatch(self, request: Request) -> tuple[Response, Any]:
        response, rule = super().dispatch(request)
        if 200 <= response.status < 300 and not request.path.startswith("/__emulator__"):
            response.headers.update(self.limiter.headers(request.path))
        return response, rule

    def snapshot(self) -> dict[str, Any]:
        return {
            "contacts": {rid: dict(r.props) for rid, r in self.contacts.records.items()},
            "archived": {
                s.object_type: sorted(s.archived, key=int) for s in (self.contacts, self.deals)
            },
            "merged_into": {
                s.object_type: dict(s.merged_into) for s in (self.contacts, self.deals)
            },
            "deals": {
                rid: {
                    "properties": dict(r.props),
                    "contacts": list(r.associations.get("contacts", [])),
                }
                for rid, r in self.deals.records.items()
            },
            "properties": {
                t: list(s.properties.values())
                for t, s in (("contacts", self.contacts), ("deals", self.deals))
            },
            "groups": {t: list(g.values()) for t, g in self.groups.items()},
            "lists": [
                {**meta, "members": sorted(self.members[lid], key=int)}
                for lid, meta in self.lists.items()
            ],
            "daily_requests": self.limiter.daily_count,
        }

    def seed(self, payload: dict[str, Any]) -> dict[str, Any]:
        """``{"profiles": N, "deals": M?, "seed": S?}``; deals default to N x deals_per_profile."""
        seed = int(payload.get("seed", self.options.seed))
        count = int(payload.get("profiles", payload.get("contacts", 0)))
        deals = int(payload.get("deals", round(count * self.deals_per_profile)))
        added = seed_contacts(self.contacts, count, seed)
        added_deals = seed_deals(self.deals, self.contacts, deals, seed)
        self.contacts.invalid_emails |= {str(e).lower() for e in payload.get("invalid_emails", [])}
        people = seed_people(self.contacts, list(payload.get("people", [])), now_ms())
        return {"contacts": len(added) + len(people), "deals": len(added_deals)}

    def reset(self) -> None:
        delay = self.index_delay
        self._init_state()
        self.index_delay = delay


def _options(values: list[str]) -> list[dict[str, Any]]:
    return [
        {"label": v, "value": v, "displayOrder": i, "hidden": False} for i, v in enumerate(values)
    ]


def _group(name: str) -> dict[str, Any]:
    return {"name": name, "label": name, "displayOrder": -1, "archived": False}
