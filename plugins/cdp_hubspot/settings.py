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
    requests_per_10s: int = Field(
        default=REQUESTS_PER_10S_FREE,
        ge=1,
        le=1000,
        description="Requests per rolling 10 s: 100 (Free/Starter) or 190 (Pro/Enterprise)",
    )
    search_requests_per_second: int = Field(
        default=SEARCH_PER_SECOND,
        ge=1,
        le=100,
        description="CRM search limit per account (HubSpot: 5)",
    )
    property_group: str = Field(
        default="cdp_traits",
        pattern=r"^[a-z][a-z0-9_]*$",
        description="Internal name of the contact property group holding our traits",
    )
    property_group_label: str = Field(
        "CDP traits", description="Label of that property group in HubSpot"
    )
    list_prefix: str = Field(
        default="CDP: ",
        max_length=60,
        description="Prefix of the MANUAL lists created for segments",
    )
    search_page_size: int = Field(
        default=SEARCH_PAGE_MAX,
        ge=1,
        le=SEARCH_PAGE_MAX,
        description="Contacts per CRM search page",
    )
    retry_base_seconds: float = Field(
        default=0.5, gt=0, description="First wait before a retry (doubles per attempt)"
    )
    contact_reconcile_hours: float = Field(
        default=24.0,
        ge=0,
        description="Every this many hours the contacts stream lists every contact id to find "
        "contacts deleted for good (a GDPR delete, a purged archive), which no listing "
        "reports; 0: on every run",
    )
    gdpr_delete: bool = Field(
        default=False,
        description="On a privacy erasure (connector forget), also GDPR-delete the person's "
        "contact in HubSpot (permanent; needs the crm.objects.contacts.write scope)",
    )
