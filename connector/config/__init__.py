"""Settings: TOML loading, documented resolution order, secrets, one-line errors."""

from connector.config.durations import Duration, parse_duration
from connector.config.loader import DEFAULT_CONFIG, load_config
from connector.config.models import (
    AppConfig,
    DestinationConfig,
    IdentitySettings,
    SourceConfig,
    WorkspaceSettings,
)

__all__ = [
    "DEFAULT_CONFIG",
    "AppConfig",
    "DestinationConfig",
    "Duration",
    "IdentitySettings",
    "SourceConfig",
    "WorkspaceSettings",
    "load_config",
    "parse_duration",
]
