"""Settings of a HubSpot source or destination (one ``[sources.*]``/``[destinations.*]`` table)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

from pydantic import Field, SecretStr

from cdp_hubspot.limits import REQUESTS_PER_10S_FREE, SEARCH_PAGE_MAX, SEARCH_PER_SECOND
from connector.sdk import HttpSettings, RenamedKey, timeout_field

__all__ = ["HubSpotSettings"]


class HubSpotSettings(HttpSettings):
    """How to reach one HubSpot portal and how hard to push it.

    ``requests_per_10s`` is the private app's documented burst limit: 100 for Free/Starter,
    190 for Professional/Enterprise (HubSpot usage guidelines, facts §2.6). Search has its own
    5 requests/second per account. The connector paces itself just under both.

    The credential to create today is a Service Key (legacy private apps can no longer be
    created since 2026-10-26, facts "December 2026 updates"); it is sent as a Bearer token like
    the private-app and OAuth tokens that keep working.
    """

    renamed: ClassVar[Mapping[str, RenamedKey]] = {"timeout_seconds": RenamedKey("timeout")}

    access_token: SecretStr = Field(
        description="Service Key (HubSpot: Settings > Integrations > Service Keys); a legacy "
        "private-app token or an OAuth access token also works (env var or secrets file)"
    )
    base_url: str = Field(
        default="https://api.hubapi.com", description="API root; the emulator's URL in tests"
    )
    timeout: float = timeout_field(30.0)
    requests_per_10s: int = Field(default=REQUESTS_PER_10S_FREE, ge=1, le=1000)
    search_requests_per_second: int = Field(default=SEARCH_PER_SECOND, ge=1, le=100)
    property_group: str = Field(default="cdp_traits", pattern=r"^[a-z][a-z0-9_]*$")
    property_group_label: str = "CDP traits"
    list_prefix: str = Field(default="CDP: ", max_length=60)
    search_page_size: int = Field(default=SEARCH_PAGE_MAX, ge=1, le=SEARCH_PAGE_MAX)
    retry_base_seconds: float = Field(default=0.5, gt=0)
