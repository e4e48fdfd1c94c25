"""Settings of the Google Customer Match destination (Data Manager API).

Members go through the Data Manager API. With ``create_user_lists`` the sink also finds or
creates one Customer Match list per activated segment, by default through the Data Manager
API's own UserListService (v1.5: same OAuth grant, no developer token). ``user_list_api =
"google_ads"`` keeps the older route through the Google Ads API (``UserListService.
MutateUserLists`` and ``GoogleAdsService.Search``), which needs a developer token and an OAuth
grant carrying the ``adwords`` scope besides ``datamanager``. Explicit ``user_lists`` entries
always win over found or created lists.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr, model_validator

from cdp_google_ads.limits import LIFE_SPAN_MAX_DAYS, MEMBERS_PER_REQUEST, UNLIMITED_LIFE_SPAN
from connector.sdk import HttpSettings, attempts_field

__all__ = ["GoogleAdsSettings"]

SCOPE = "https://www.googleapis.com/auth/datamanager"
ADS_SCOPE = "https://www.googleapis.com/auth/adwords"


class GoogleAdsSettings(HttpSettings):
    """Where to send, how to authenticate, and the consent and terms we declare."""

    operating_account_id: str = Field(description="Google Ads customer id, digits only")
    operating_account_type: Literal["GOOGLE_ADS", "DISPLAY_VIDEO_ADVERTISER"] = "GOOGLE_ADS"
    login_account_id: str | None = Field(default=None, description="Manager account, if any")
    login_account_type: Literal["GOOGLE_ADS", "DATA_PARTNER"] = "GOOGLE_ADS"
    user_lists: dict[str, str] = Field(
        default_factory=dict,
        description="Segment id -> Customer Match user list id (productDestinationId)",
    )
    create_user_lists: bool = Field(
        default=False,
        description="Find or create one Customer Match list per segment without a user_lists "
        "entry (visible in the ad account, hence opt-in)",
    )
    user_list_api: Literal["data_manager", "google_ads"] = Field(
        default="data_manager",
        description="Which API finds and creates lists: the Data Manager API's UserListService "
        "(no developer token), or the older Google Ads API route (needs developer_token)",
    )
    developer_token: SecretStr | None = Field(
        default=None,
        description="Google Ads API developer token (only for user_list_api = google_ads)",
    )
    ads_api_url: str = "https://googleads.googleapis.com"
    ads_api_version: str = Field(default="v26", pattern=r"^v\d+$")
    list_name_prefix: str = "Connector: "
    membership_life_span_days: int = Field(
        default=LIFE_SPAN_MAX_DAYS,
        description="Days a member stays in a created list: 0..540, or 10000 for Google's "
        "default (no expiry in the Google Ads API)",
    )
    base_url: str = "https://datamanager.googleapis.com"
    token_url: str = "https://oauth2.googleapis.com/token"  # noqa: S105 - a URL
    # OAuth, either a refresh token (installed-app / web flow) ...
    client_id: str | None = None
    client_secret: SecretStr | None = None
    refresh_token: SecretStr | None = None
    # ... or a service account (its email and PEM private key).
    service_account_email: str | None = None
    service_account_private_key: SecretStr | None = None
    terms_of_service_accepted: bool = Field(
        default=False,
        description="Customer Match terms accepted in the operating account (sent on ingest)",
    )
    consent_policy: Literal["strict", "not_denied"] = "strict"
    batch_size: int = Field(default=MEMBERS_PER_REQUEST, ge=1, le=MEMBERS_PER_REQUEST)
    status_poll_interval: float = Field(default=2.0, gt=0)
    status_timeout: float = Field(default=60.0, ge=0)
    max_attempts: int = attempts_field(6)

    @model_validator(mode="after")
    def _one_credential(self) -> GoogleAdsSettings:
        refresh = self.refresh_token is not None
        service = self.service_account_private_key is not None
        if refresh == service:
            raise ValueError(
                "configure exactly one of refresh_token (with client_id, client_secret) "
                "or service_account_email + service_account_private_key"
            )
        if refresh and not (self.client_id and self.client_secret):
            raise ValueError("refresh_token needs client_id and client_secret")
        if service and not self.service_account_email:
            raise ValueError("service_account_private_key needs service_account_email")
        if self.uses_ads_api and self.developer_token is None:
            raise ValueError(
                "user_list_api = google_ads needs developer_token (the Google Ads API developer "
                "token, from an env var or the secrets file); the default data_manager does not"
            )
        span = self.membership_life_span_days
        if not (0 <= span <= LIFE_SPAN_MAX_DAYS or span == UNLIMITED_LIFE_SPAN):
            raise ValueError("membership_life_span_days must be 0..540, or 10000 for no expiry")
        return self

    @property
    def uses_ads_api(self) -> bool:
        """Whether lists are found and created through the Google Ads API."""
        return self.create_user_lists and self.user_list_api == "google_ads"

    @property
    def scopes(self) -> list[str]:
        """OAuth scopes to ask for: Ads API calls need ``adwords`` besides ``datamanager``."""
        return [SCOPE, ADS_SCOPE] if self.uses_ads_api else [SCOPE]
