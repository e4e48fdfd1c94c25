"""Settings of a Klaviyo source or destination: one frozen model the config loader validates."""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

from pydantic import Field, SecretStr

from connector.sdk import HttpSettings, RenamedKey

__all__ = ["KlaviyoSettings"]


class KlaviyoSettings(HttpSettings):
    renamed: ClassVar[Mapping[str, RenamedKey]] = {
        "max_retry_delay": RenamedKey("max_retry_seconds")
    }

    api_key: SecretStr = Field(description="Private API key (pk_...), from env or secrets file")
    base_url: str = Field(
        "https://a.klaviyo.com", description="API host; point it at the emulator in tests and demos"
    )
    list_prefix: str = Field("CDP: ", description="Prefix of the lists created for segments")
    profile_page_size: int = Field(100, ge=1, le=100)
    event_page_size: int = Field(1000, ge=1, le=1000)
    poll_interval: float = Field(0.5, gt=0, description="First wait between import-job polls (s)")
    profile_reconcile_hours: float = Field(
        24.0,
        ge=0,
        description="Every this many hours the profiles stream lists every profile id to find "
        "profiles deleted (or merged away) in Klaviyo; 0: on every run",
    )
    job_timeout: float = Field(1800.0, gt=0, description="Give up on an import job after this (s)")
