"""Settings of a Klaviyo source or destination: one frozen model the config loader validates."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, SecretStr

__all__ = ["KlaviyoSettings"]


class KlaviyoSettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    api_key: SecretStr = Field(description="Private API key (pk_...), from env or secrets file")
    base_url: str = Field(
        "https://a.klaviyo.com", description="API host; point it at the emulator in tests and demos"
    )
    list_prefix: str = Field("CDP: ", description="Prefix of the lists created for segments")
    profile_page_size: int = Field(100, ge=1, le=100)
    event_page_size: int = Field(1000, ge=1, le=1000)
    poll_interval: float = Field(0.5, gt=0, description="First wait between import-job polls (s)")
    job_timeout: float = Field(1800.0, gt=0, description="Give up on an import job after this (s)")
    max_attempts: int = Field(8, ge=1, description="Attempts per request before giving up")
    max_retry_delay: float = Field(300.0, gt=0, description="Total seconds retries may take")
    timeout: float = Field(60.0, gt=0, description="Per-request timeout (s)")
