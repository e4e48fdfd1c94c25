"""Settings of the Meta Custom Audiences destination (one ``[destinations.<name>]`` section)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr, field_validator

from cdp_meta.identifiers import META_KEYS
from cdp_meta.limits import REMOVE_ROWS_ADVISED, USERS_PER_REQUEST
from cdp_meta.versions import DEFAULT_VERSION
from connector.sdk import HttpSettings, attempts_field

__all__ = ["MetaSettings"]


class MetaSettings(HttpSettings):
    """What a marketer configures; secrets come from the environment or the secrets file."""

    ad_account_id: str = Field(description="Ad account id, with or without the act_ prefix")
    access_token: SecretStr
    app_id: str | None = None
    app_secret: SecretStr | None = Field(
        default=None, description="Adds appsecret_proof to every call when set"
    )
    api_version: str = Field(
        default=DEFAULT_VERSION,  # v26.0: expiry not announced yet (cdp_meta.versions)
        pattern=r"^v\d+\.0$",
        description="Marketing API version, e.g. v26.0; an expired one is refused by Meta",
    )
    base_url: str = "https://graph.facebook.com"
    audience_prefix: str = Field(default="", description="Prepended to each segment's name")
    customer_file_source: Literal[
        "USER_PROVIDED_ONLY", "PARTNER_PROVIDED_ONLY", "BOTH_USER_AND_PARTNER_PROVIDED"
    ] = "USER_PROVIDED_ONLY"
    match_keys: tuple[str, ...] = Field(
        default=("EMAIL", "PHONE", "FN", "LN", "CT", "ST", "ZIP", "COUNTRY"),
        description="Multi-key schema sent per row; more keys raise the match rate",
    )
    value_trait: str | None = Field(
        default=None,
        description="Trait with a customer value (e.g. predicted CLV): makes value-based "
        "audiences for lookalike seeds, sent as LOOKALIKE_VALUE",
    )
    value_segments: tuple[str, ...] = Field(
        default=(), description="Segment ids that get value-based audiences (empty: all)"
    )
    full_replace: bool = Field(
        default=False,
        description="Sync by replacing each audience through /usersreplace instead of diffs",
    )
    consent_policy: Literal["strict", "not_denied"] = "strict"
    add_batch_size: int = Field(default=USERS_PER_REQUEST, ge=1, le=USERS_PER_REQUEST)
    remove_batch_size: int = Field(default=REMOVE_ROWS_ADVISED, ge=1, le=USERS_PER_REQUEST)
    max_url_bytes: int = Field(
        default=60_000,
        ge=2_000,
        description="DELETE carries its payload in the URL; keep it under common server limits",
    )
    max_attempts: int = attempts_field(6)

    @field_validator("match_keys")
    @classmethod
    def _known_keys(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        unknown = sorted(set(value) - set(META_KEYS))
        if unknown:
            raise ValueError(f"unknown Meta match keys {unknown}; known: {list(META_KEYS)}")
        if not value:
            raise ValueError("match_keys needs at least one key")
        return value

    @property
    def account_path(self) -> str:
        raw = self.ad_account_id.strip()
        return raw if raw.startswith("act_") else f"act_{raw}"
