"""Find Klaviyo profile ids for recipients we have no id for.

List membership needs profile ids, not emails (facts 3.2). Ids come first from
``Recipient.ids["klaviyo_id"]`` (learned earlier), else from one ``get_profiles`` call per 100
identifiers with an ``any(...)`` filter: by email, then phone number, then external id.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from functools import partial

from cdp_klaviyo.client import KlaviyoClient
from connector.sdk import Recipient

__all__ = ["resolve_ids"]

_BATCH = 100


def _identifier(recipient: Recipient, field: str) -> str | None:
    if field == "email":
        return recipient.email
    if field == "phone_number":
        return recipient.phone
    return recipient.ids.get("external_id")


def resolve_ids(client: KlaviyoClient, recipients: Sequence[Recipient]) -> dict[str, str]:
    """profile_id → Klaviyo id, for every recipient Klaviyo knows."""
    found = {r.profile_id: r.ids["klaviyo_id"] for r in recipients if r.ids.get("klaviyo_id")}
    for field in ("email", "phone_number", "external_id"):
        wanted: dict[str, list[str]] = {}
        for r in recipients:
            value = _identifier(r, field)
            if r.profile_id not in found and value:
                wanted.setdefault(value, []).append(r.profile_id)
        values = sorted(wanted)
        for start in range(0, len(values), _BATCH):
            chunk = values[start : start + _BATCH]
            flt = f"any({field},{json.dumps(chunk)})"
            doc = client.call(
                "profiles_read",
                partial(client.api.Profiles.get_profiles, filter=flt, page_size=_BATCH),
            )
            for resource in doc.get("data") or []:
                value = (resource.get("attributes") or {}).get(field)
                for pid in wanted.get(value or "", []):
                    found[pid] = str(resource["id"])
    return found
