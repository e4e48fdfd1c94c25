"""The application's settings: frozen pydantic models, unknown keys refused.

Sources and destinations are tables named by the user (``[sources.crm]``) whose ``plugin`` key
picks the plugin; their remaining keys are validated by that plugin's own settings model, so a
typo anywhere is reported with its full dotted key.
"""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from connector.config.durations import Duration
from connector.modelling.rfm_settings import RfmSettings

__all__ = [
    "AppConfig",
    "DestinationConfig",
    "IdentitySettings",
    "LoggingSettings",
    "SourceConfig",
    "SyncSettings",
    "WorkspaceSettings",
]

_FROZEN = ConfigDict(frozen=True, extra="forbid")

DEFAULT_BLOCKED = (
    "test@test.com",
    "test@example.com",
    "noreply@example.com",
    "no-reply@example.com",
    "null",
    "none",
    "n/a",
    "unknown",
    "0000000000",
    "1234567890",
    "+10000000000",
)


class WorkspaceSettings(BaseModel):
    model_config = _FROZEN
    path: Path = Field(Path(".connector"), description="Directory holding all local state.")
    state_url: str | None = Field(
        None, description="SQLAlchemy URL of the state store; default SQLite in the workspace."
    )


class IdentitySettings(BaseModel):
    model_config = _FROZEN
    default_region: str = Field("US", min_length=2, max_length=2)
    blocked_values: tuple[str, ...] = DEFAULT_BLOCKED
    max_ids_per_kind: int = Field(5, ge=1, le=1000)


class LoggingSettings(BaseModel):
    model_config = _FROZEN
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    format: Literal["text", "json"] = "text"


class SyncSettings(BaseModel):
    model_config = _FROZEN
    retry_rounds: int = Field(3, ge=0, le=20, description="Passes over retryable changes per run.")
    hold_on_reject_rate: float | None = Field(None, ge=0, le=1)


class ModelSettingsRef(BaseModel):
    """Modelling settings: the RFM placeholder until the full modelling core lands."""

    model_config = _FROZEN
    as_of: date | None = Field(None, description="Cutoff date; default: today (UTC).")
    rfm: RfmSettings = RfmSettings()


class SourceConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", arbitrary_types_allowed=True)
    plugin: str
    enabled: bool = True
    lookback: Duration = timedelta(hours=1)
    settings: Any = None


class DestinationConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", arbitrary_types_allowed=True)
    plugin: str
    enabled: bool = True
    traits: tuple[str, ...] | Literal["all"] = "all"
    segments: tuple[str, ...] | Literal["all"] = "all"
    consent_policy: Literal["strict", "not_denied"] = "strict"
    settings: Any = None


class AppConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", arbitrary_types_allowed=True)
    workspace: WorkspaceSettings = WorkspaceSettings()
    identity: IdentitySettings = IdentitySettings()
    logging: LoggingSettings = LoggingSettings()
    sync: SyncSettings = SyncSettings()
    model: ModelSettingsRef = ModelSettingsRef()
    sources: dict[str, SourceConfig] = Field(default_factory=dict)
    destinations: dict[str, DestinationConfig] = Field(default_factory=dict)
    config_path: Path | None = None
