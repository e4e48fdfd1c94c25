"""Settings of the Meta Custom Audiences destination (one ``[destinations.<name>]`` section)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from cdp_meta.identifiers import META_KEYS

__all__ = ["MetaSettings"]


class MetaSettings(BaseModel):
    """What a marketer configures; secrets come from the environment or the secrets file."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    ad_account_id: str = Field(description="Ad account id, with or without the act_ prefix")
    access_token: SecretStr
    app_id: str | None = None
    app_secret: SecretStr | None = Field(
        default=None, description="Adds appsecret_proof to every call when set"
    )
    api_version: str = "v21.0"
    base_url: str = "https://graph.facebook.com"
    timeout: float = 60.0
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
    add_batch_size: int = Field(default=10_000, ge=1, le=10_000)
    remove_batch_size: int = Field(default=1_000, ge=1, le=10_000)
    max_url_bytes: int = Field(
        default=60_000,
        ge=2_000,
        description="DELETE carries its payload in the URL; keep it under common server limits",
    )
    max_attempts: int = Field(default=6, ge=1)
    max_retry_seconds: float = Field(default=300.0, gt=0)

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
