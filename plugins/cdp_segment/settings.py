"""Settings of one Segment instance: archive, webhook spool, Profile API and the write key.

Every part is optional so one model serves a pull-only, a push-only and a live-only setup; the
factories raise ``ConfigError`` naming the key a part needs when it is used without it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar, Literal

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
    write_key: SecretStr | None = Field(
        None, description="Source write key of the Tracking API (sink; env var or secrets file)"
    )
    base_url: str = Field(
        "https://api.segment.io",
        description="Tracking API root; the emulator's URL in tests and demos",
    )
    trait_prefix: str = Field(
        "cdp_", description="Prefix of the traits we send, so they never clash with yours"
    )
    chunk_size: int = Field(
        default=1000, ge=1, le=9000, description="Changes handed to the SDK per flush"
    )
    upload_size: int = Field(
        default=100,
        ge=1,
        le=100,
        description="Messages per Tracking API batch request (at most 100)",
    )
    max_attempts: int = attempts_field(6)
    timeout: float = timeout_field(15.0)
    gzip: bool = Field(True, description="Compress Tracking API batches")

    # ---- sink, on a privacy erasure: the Public API's deletion and suppression regulations ----
    privacy_regulation: bool = Field(
        False,
        description="On a privacy erasure (connector forget), also ask Segment to regulate the "
        "person's userId (Public API deletion and suppression; needs public_api_token)",
    )
    regulation_type: Literal["SUPPRESS_WITH_DELETE", "DELETE_ONLY"] = Field(
        "SUPPRESS_WITH_DELETE",
        description="SUPPRESS_WITH_DELETE also drops the userId's future data; DELETE_ONLY deletes",
    )
    public_api_token: SecretStr | None = Field(
        None, description="Public API token for regulations (env var or secrets file)"
    )
    public_api_url: str = Field(
        "https://api.segmentapis.com",
        description="Public API root (EU workspaces: https://eu1.api.segmentapis.com)",
    )
    regulation_source_id: str | None = Field(
        None, description="Regulate in this Segment source only (empty: the whole workspace)"
    )

    # ---- archive source: the S3 destination layout -----------------------------------------
    archive_url: str | None = Field(
        None, description="Folder or fsspec URL (s3://...) of the S3 destination's segment-logs"
    )
    source_ids: tuple[str, ...] = Field(
        (), description="Segment source ids to read from the archive (empty: all)"
    )
    storage_options: dict[str, str] = Field(
        default_factory=dict,
        description="fsspec options for archive_url (credentials go in the secrets file)",
    )
    late_days: int = Field(
        default=2,
        ge=0,
        le=60,
        description="Archive day folders re-read behind the mark (late files)",
    )
    # input limits per archive file (a gzip bomb is quarantined, not read into memory);
    # Segment itself accepts at most 32 KB per message (FACTS.md, Segment row)
    max_line_bytes: int = Field(
        default=256 << 10, ge=1024, description="Longest archive line accepted"
    )
    max_file_bytes: int = Field(
        default=4 << 30,
        ge=1 << 20,
        description="Most decompressed bytes read from one archive file",
    )
    max_expansion: int = Field(
        default=250, ge=2, description="Most an archive file may expand (decompressed / on disk)"
    )

    # ---- live source: the Webhooks destination ----------------------------------------------
    webhook_secret: SecretStr | None = Field(
        None, description="Shared secret of the Webhooks destination (HMAC; env or secrets file)"
    )
    webhook_spool: str = Field(
        "segment/webhook-spool.sqlite",
        description="Where received webhooks wait to be read (relative: workspace)",
    )
    spool_retain_hours: float = Field(
        default=24.0, ge=0, description="Read webhook rows kept this long"
    )
    # a connection silent this long (half-sent headers or body) is closed, freeing its thread
    webhook_timeout_seconds: float = Field(
        default=10.0, gt=0, le=300, description="A connection silent this long is closed"
    )
    # connections served at once; the next ones get 503 + Retry-After (Segment retries 5xx)
    webhook_max_connections: int = Field(
        default=64, ge=1, le=4096, description="Connections served at once; the next get 503"
    )
    # a whole webhook request (headers and body) must arrive within this many seconds
    webhook_request_seconds: float = Field(
        default=30.0, gt=0, le=3600, description="A whole webhook request must arrive within this"
    )
    webhook_max_body_bytes: int = Field(
        default=4 << 20,
        ge=64 << 10,
        le=256 << 20,
        description="Largest request body read (a Webhooks (Actions) batch of 1,000 events fits)",
    )
    webhook_max_batch: int = Field(
        default=4000,
        ge=1,
        le=100_000,
        description="Messages per batched delivery (Segment's own maximum batch is 4,000)",
    )

    # ---- Profile API enrichment (optional, per space) ---------------------------------------
    space_id: str | None = Field(
        None, description="Engage space id of the Profile API (optional enrichment)"
    )
    profile_api_token: SecretStr | None = Field(
        None, description="Profile API access token (env var or secrets file)"
    )
    profile_api_url: str = Field("https://profiles.segment.com", description="Profile API root")
    profile_api_rate: int = Field(
        default=PROFILE_API_CALLS,
        ge=1,
        le=PROFILE_API_CALLS,
        description="Profile API requests per minute",
    )
    profile_api_traits_limit: int = Field(
        default=PROFILE_API_TRAITS_PAGE,
        ge=1,
        le=PROFILE_API_TRAITS_PAGE,
        description="Traits per Profile API page",
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

    @field_validator("base_url", "profile_api_url", "public_api_url")
    @classmethod
    def _no_trailing_slash(cls, value: str) -> str:
        return value.rstrip("/")
