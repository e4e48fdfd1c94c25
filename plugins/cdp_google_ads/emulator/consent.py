"""The Data Manager API's consent values, as its JSON parsing checks them."""

from __future__ import annotations

from typing import Any

__all__ = ["consent_value_errors", "denied_ad_user_data"]

# google.ads.datamanager.v1.ConsentStatus: JSON takes the enum's names (the Google Ads API's
# GRANTED / DENIED are not among them and fail the request's parsing)
_CONSENT_STATUS = frozenset({"CONSENT_STATUS_UNSPECIFIED", "CONSENT_GRANTED", "CONSENT_DENIED"})
_CONSENT_FIELDS = {"adUserData": "ad_user_data", "adPersonalization": "ad_personalization"}


def consent_value_errors(body: dict[str, Any]) -> list[dict[str, str]]:
    """Field violations for consent values that are not ConsentStatus names, in the shape
    Google's JSON transcoding gives a value it cannot parse (an INVALID_ARGUMENT whose
    BadRequest names the field: ``Invalid value at 'consent.ad_user_data' (...), "GRANTED"``)."""
    where: list[tuple[str, Any]] = [("consent", body.get("consent"))]
    for i, member in enumerate(body.get("audienceMembers") or []):
        if isinstance(member, dict):
            where.append((f"audience_members[{i}].consent", member.get("consent")))
    out: list[dict[str, str]] = []
    for path, consent in where:
        for key, name in _CONSENT_FIELDS.items():
            value = (consent or {}).get(key) if isinstance(consent, dict) else None
            if value is not None and value not in _CONSENT_STATUS:
                field = f"{path}.{name}"
                out.append(
                    {
                        "field": field,
                        "description": f"Invalid value at '{field}' (type.googleapis.com/"
                        f'google.ads.datamanager.v1.ConsentStatus), "{value}"',
                    }
                )
    return out


def denied_ad_user_data(body: dict[str, Any], member: dict[str, Any]) -> bool:
    """Whether the member's ad-user-data consent is denied: a member-level value overrides the
    request's (IngestAudienceMembersRequest.consent); an unspecified one is no denial."""
    consent = {**(body.get("consent") or {}), **(member.get("consent") or {})}
    return bool(consent.get("adUserData") == "CONSENT_DENIED")
