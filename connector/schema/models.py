"""The canonical, unified entities: what identity resolution produces and models consume."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

__all__ = ["CONSENT_CHANNELS", "Consent", "ConsentStatus", "Identity", "Profile"]

CONSENT_CHANNELS = ("email", "sms", "ads")


class ConsentStatus(StrEnum):
    GRANTED = "granted"
    DENIED = "denied"
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class Consent:
    """Latest known consent for one channel, with where and when it was stated."""

    channel: str
    status: ConsentStatus
    source: str | None = None
    at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Identity:
    """One identifier of a person: ``kind`` is email, phone or a per-source id kind."""

    kind: str
    value: str

    @property
    def key(self) -> str:
        return f"{self.kind}:{self.value}"


@dataclass(frozen=True, slots=True)
class Profile:
    profile_id: str
    identities: tuple[Identity, ...]
    email: str | None = None
    phone: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    city: str | None = None
    postal_code: str | None = None
    country: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    consent: dict[str, Consent] = field(default_factory=dict)
    sources: tuple[str, ...] = ()
    traits: dict[str, Any] = field(default_factory=dict)
