"""Canonical Profile, Event, Consent and Identity, and the normalisation rules behind them."""

from connector.schema.models import CONSENT_CHANNELS, Consent, ConsentStatus, Identity, Profile
from connector.schema.normalise import (
    normalise_country,
    normalise_email,
    normalise_phone,
    parse_timestamp,
    to_iso,
)
from connector.schema.records import (
    EVENT_TYPES,
    EventRecord,
    ProfileRecord,
    validate_event,
    validate_profile,
)

__all__ = [
    "CONSENT_CHANNELS",
    "EVENT_TYPES",
    "Consent",
    "ConsentStatus",
    "EventRecord",
    "Identity",
    "Profile",
    "ProfileRecord",
    "normalise_country",
    "normalise_email",
    "normalise_phone",
    "parse_timestamp",
    "to_iso",
    "validate_event",
    "validate_profile",
]
