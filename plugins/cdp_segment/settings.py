"""Settings of one Segment instance: archive, webhook spool, Profile API and the write key.

Every part is optional so one model serves a pull-only, a push-only and a live-only setup; the
factories raise ``ConfigError`` naming the key a part needs when it is used without it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

from pydantic import Field, SecretStr, field_validator

from cdp_segment.limits import PROFILE_API_CALLS, PROFILE_API_TRAITS_PAGE
from connector.sdk import HttpSettings, InputLimits, RenamedKey, attempts_field, timeout_field

__all__ = ["SegmentSettings"]


class SegmentSettings(HttpSettings):
    # segment-analytics-python counts retries, we count attempts: the first send plus retries.
    renamed: ClassVar[Mapping[str, RenamedKey]] = {
        "max_retries": RenamedKey("max_attempts", lambda retries: int(retries) + 1),
        "max_backoff_seconds": RenamedKey("max_retry_seconds"),
    }

    # ---- sink: the HTTP Tracking API through segment-analytics-python ---------------------
    write_key: SecretStr | None = None
    base_url: str = "https://api.segment.io"
    trait_prefix: str = "cdp_"
    chunk_size: int = Field(default=1000, ge=1, le=9000)
    upload_size: int = Field(default=100, ge=1, le=100)
    max_attempts: int = attempts_field(6)
    timeout: float = timeout_field(15.0)
    gzip: bool = True

    # ---- archive source: the S3 destination layout -----------------------------------------
    archive_url: str | None = None
    source_ids: tuple[str, ...] = ()
    storage_options: dict[str, str] = Field(default_factory=dict)
    late_days: int = Field(default=2, ge=0, le=60)
    # input limits per archive file (a gzip bomb is quarantined, not read into memory);
    # Segment itself accepts at most 32 KB per message (FACTS.md, Segment row)
    max_line_bytes: int = Field(default=256 << 10, ge=1024)
    max_file_bytes: int = Field(default=4 << 30, ge=1 << 20)
    max_expansion: int = Field(default=250, ge=2)

    # ---- live source: the Webhooks destination ----------------------------------------------
    webhook_secret: SecretStr | None = None
    webhook_spool: str = "segment/webhook-spool.sqlite"
    spool_retain_hours: float = Field(default=24.0, ge=0)
    # a connection silent this long (half-sent headers or body) is closed, freeing its thread
    webhook_timeout_seconds: float = Field(default=10.0, gt=0, le=300)
    # connections served at once; the next ones get 503 + Retry-After (Segment retries 5xx)
    webhook_max_connections: int = Field(default=64, ge=1, le=4096)
    # a whole webhook request (headers and body) must arrive within this many seconds
    webhook_request_seconds: float = Field(default=30.0, gt=0, le=3600)
    # largest request body read (a Webhooks (Actions) batch of 1,000 events fits the default)
    webhook_max_body_bytes: int = Field(default=4 << 20, ge=64 << 10, le=256 << 20)
    # messages per batched delivery; Segment's own maximum batch size is 4,000
    webhook_max_batch: int = Field(default=4000, ge=1, le=100_000)

    # ---- Profile API enrichment (optional, per space) ---------------------------------------
    space_id: str | None = None
    profile_api_token: SecretStr | None = None
    profile_api_url: str = "https://profiles.segment.com"
    profile_api_rate: int = Field(default=PROFILE_API_CALLS, ge=1, le=PROFILE_API_CALLS)
    profile_api_traits_limit: int = Field(
        default=PROFILE_API_TRAITS_PAGE, ge=1, le=PROFILE_API_TRAITS_PAGE
    )

    def limits(self) -> InputLimits:
        return InputLimits(
            max_line_bytes=self.max_line_bytes,
            max_file_bytes=self.max_file_bytes,
            max_expansion=self.max_expansion,
        )

    @field_validator("trait_prefix")
    @classmethod
    def _snake_prefix(cls, value: str) -> str:
        if value and not value.replace("_", "").isalnum():
            raise ValueError("trait_prefix must be letters, digits and underscores")
        return value

    @field_validator("base_url", "profile_api_url")
    @classmethod
    def _no_trailing_slash(cls, value: str) -> str:
        return value.rstrip("/")
