"""Settings of the Google Customer Match destination (Data Manager API)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator

__all__ = ["GoogleAdsSettings"]

SCOPE = "https://www.googleapis.com/auth/datamanager"


class GoogleAdsSettings(BaseModel):
    """Where to send, how to authenticate, and the consent and terms we declare."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    operating_account_id: str = Field(description="Google Ads customer id, digits only")
    operating_account_type: Literal["GOOGLE_ADS", "DISPLAY_VIDEO_ADVERTISER"] = "GOOGLE_ADS"
    login_account_id: str | None = Field(default=None, description="Manager account, if any")
    login_account_type: Literal["GOOGLE_ADS", "DATA_PARTNER"] = "GOOGLE_ADS"
    user_lists: dict[str, str] = Field(
        default_factory=dict,
        description="Segment id -> Customer Match user list id (productDestinationId)",
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
    batch_size: int = Field(default=10_000, ge=1, le=10_000)
    timeout: float = 60.0
    status_poll_interval: float = Field(default=2.0, gt=0)
    status_timeout: float = Field(default=60.0, ge=0)
    max_attempts: int = Field(default=6, ge=1)
    max_retry_seconds: float = Field(default=300.0, gt=0)

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
        return self
