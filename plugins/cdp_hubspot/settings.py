"""Settings of a HubSpot source or destination (one ``[sources.*]``/``[destinations.*]`` table)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, SecretStr

__all__ = ["HubSpotSettings"]


class HubSpotSettings(BaseModel):
    """How to reach one HubSpot portal and how hard to push it.

    ``requests_per_10s`` is the private app's documented burst limit: 100 for Free/Starter,
    190 for Professional/Enterprise (HubSpot usage guidelines, facts §2.6). Search has its own
    5 requests/second per account. The connector paces itself just under both.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    access_token: SecretStr = Field(description="Private app token (env var or secrets file)")
    base_url: str = Field(
        default="https://api.hubapi.com", description="API root; the emulator's URL in tests"
    )
    requests_per_10s: int = Field(default=100, ge=1, le=1000)
    search_requests_per_second: int = Field(default=5, ge=1, le=100)
    property_group: str = Field(default="cdp_traits", pattern=r"^[a-z][a-z0-9_]*$")
    property_group_label: str = "CDP traits"
    list_prefix: str = Field(default="CDP: ", max_length=60)
    search_page_size: int = Field(default=200, ge=1, le=200)
    max_attempts: int = Field(default=8, ge=1, le=50)
    max_retry_seconds: float = Field(default=300.0, gt=0)
    retry_base_seconds: float = Field(default=0.5, gt=0)
    timeout_seconds: float = Field(default=30.0, gt=0)
