"""The application's settings: frozen pydantic models, unknown keys refused.

Sources and destinations are tables named by the user (``[sources.crm]``) whose ``plugin`` key
picks the plugin; their remaining keys are validated by that plugin's own settings model, so a
typo anywhere is reported with its full dotted key.
"""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from connector.config.durations import Duration
from connector.modelling.rfm_settings import RfmSettings
from connector.modelling.settings import ModelSettings

__all__ = [
    "AlertSettings",
    "AppConfig",
    "DestinationConfig",
    "EngineSettings",
    "IdentitySettings",
    "LoggingSettings",
    "PullSettings",
    "ScheduleSettings",
    "SourceConfig",
    "StreamSettings",
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
    memory_limit: str = Field(
        "2GB",
        pattern=r"^\d+(\.\d+)?\s*(KB|MB|GB|TB|KiB|MiB|GiB|TiB)$",
        description="Memory the embedded engine (DuckDB) may use before it spills to "
        "<workspace>/tmp: the data store holds it while a run pulls, unifies and models; while "
        "it plans and applies, the store keeps a quarter and the planning database the rest. "
        "A run's peak is about this plus Python's own objects.",
    )


class IdentitySettings(BaseModel):
    model_config = _FROZEN
    default_region: str = Field(
        "US",
        min_length=2,
        max_length=2,
        description="Country assumed for phone numbers written without a country code",
    )
    blocked_values: tuple[str, ...] = Field(
        DEFAULT_BLOCKED, description="Placeholder emails and phones never used to join people"
    )
    max_ids_per_kind: int = Field(
        5,
        ge=1,
        le=1000,
        description="A merge giving one profile more distinct ids of a kind is refused",
    )
    id_key: SecretStr | None = Field(
        None,
        description="Key of the profile-id hash (a secret: environment or secrets file). Set, a "
        "workspace rebuilt from the same sources gets the same profile ids; unset, each new "
        "workspace draws a random key.",
    )


class LoggingSettings(BaseModel):
    model_config = _FROZEN
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field("INFO", description="Log level")
    format: Literal["text", "json"] = Field(
        "text", description="Log lines as text or JSON (also --log-format)"
    )


class SyncSettings(BaseModel):
    model_config = _FROZEN
    retry_rounds: int = Field(3, ge=0, le=20, description="Passes over retryable changes per run.")
    hold_on_reject_rate: float | None = Field(
        None, ge=0, le=1, description="Reserved: accepted but not acted on yet"
    )
    max_first_creates: int = Field(
        500,
        ge=0,
        description="A destination's first sync that would create more records than this is "
        "held until confirmed (`connector run --yes`); platforms bill per contact.",
    )
    hold_small_moves: bool = Field(
        True,
        description="A delivered number trait with a stated precision (probabilities to 0.01, "
        "CLV to whole units) is not re-sent while the model's value is within one unit of it, "
        "so a refit that nudges every score does not re-send every profile; false: any change.",
    )


class PullSettings(BaseModel):
    """``[pull]``: guards on what sources hand us, shared by every source."""

    model_config = _FROZEN
    future_tolerance: Duration = Field(
        timedelta(days=1),
        description="A record whose cursor timestamp is later than now + this is quarantined "
        "and never moves a cursor (a date in 9999 would otherwise hide every later record).",
    )
    quarantine_sample: int = Field(
        100, ge=1, le=100_000, description="Bad records stored per reason and stream per run."
    )
    quarantine_retention: Duration = Field(
        timedelta(days=30), description="Quarantine rows and fingerprints kept this long."
    )


class PrivacySettings(BaseModel):
    """``[privacy]``: how long completed erasure requests and their suppressions are kept."""

    model_config = _FROZEN
    retention: Duration = Field(
        timedelta(days=3 * 365),
        description="A completed erasure request and its suppression list entries are kept "
        "this long (while kept, the person is never pulled again); the audit log is kept.",
    )


class ScheduleSettings(BaseModel):
    """When ``connector schedule`` runs the pipeline: crontabs (cron's weekday meaning) and/or
    an interval; one run at a time, missed runs coalesced into one within the grace time."""

    model_config = _FROZEN
    cron: tuple[str, ...] = Field(
        (), description="Crontabs (cron's weekday meaning) on which `connector schedule` runs"
    )
    interval: Duration | None = Field(None, description="Or run every this long")
    timezone: str = Field("UTC", description="Time zone of the crontabs")
    misfire_grace_time: Duration = Field(
        timedelta(minutes=15),
        description="Missed runs within this are coalesced into one catch-up run",
    )

    @field_validator("cron", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return (value,) if isinstance(value, str) else value

    @field_validator("cron")
    @classmethod
    def _valid_crontabs(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        from connector.config.cron import cron_trigger

        for expr in value:
            cron_trigger(expr)
        return value

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}") from None
        return value


class StreamSettings(BaseModel):
    """``connector stream``: how often it looks for live events, how often it activates what
    changed, when it re-checks windows that may have expired, how long a scheduled run waits
    for it to hand over the run lock."""

    model_config = _FROZEN
    poll_seconds: float = Field(
        0.2, gt=0, le=60, description="Pause between looks at the spool and event files"
    )
    flush_seconds: float = Field(
        2.0,
        gt=0,
        le=3600,
        description="Membership changes go out at most this often per destination (micro-batch)",
    )
    sweep: Duration = Field(
        timedelta(seconds=60),
        description="Every profile is re-evaluated this often, so memberships that change with "
        "time alone (an event leaving a window) are delivered too",
    )
    yield_wait: Duration = Field(
        timedelta(minutes=10),
        description="How long a scheduled run waits for a running stream to hand over the run "
        "lock before it gives up as locked",
    )


class AlertSettings(BaseModel):
    """Who hears about a failed run, a drift hold or too many rejects, and how."""

    model_config = _FROZEN
    on: tuple[Literal["failed", "drift_hold", "reject_rate", "interrupted"], ...] = Field(
        (
            "failed",
            "drift_hold",
            "reject_rate",
        ),
        description="Which events send an alert",
    )
    reject_rate_threshold: float = Field(
        0.05, ge=0, le=1, description="Share of rejected changes that sends a reject_rate alert"
    )
    webhook_url: SecretStr | None = Field(
        None, description="Slack-style incoming webhook (a secret: env var or secrets file)"
    )  # Slack-style incoming webhook: the URL is a secret
    email_to: tuple[str, ...] = Field((), description="Addresses that receive alert emails")
    email_from: str = Field("cdp-connector@localhost", description="Sender of alert emails")
    smtp_host: str = Field("localhost", description="SMTP server for alert emails")
    smtp_port: int = Field(25, ge=1, le=65535, description="SMTP port")
    smtp_starttls: bool = Field(False, description="Use STARTTLS")
    smtp_user: str | None = Field(None, description="SMTP user, if the server needs one")
    smtp_password: SecretStr | None = Field(
        None, description="SMTP password (env var or secrets file)"
    )
    timeout: Duration = Field(timedelta(seconds=10), description="Timeout of one alert delivery")


class ModelConfig(BaseModel):
    """``[model]``: the cutoff, which engine scores and segments, and each engine's settings."""

    model_config = _FROZEN
    as_of: date | None = Field(None, description="Cutoff date; default: today (UTC).")
    engine: Literal["full", "rfm"] = Field(
        "full",
        description="'full': lifetime value, propensity, churn, clusters, rules, tiers, holdouts, "
        "drift; 'rfm': RFM quintile tiers only (small or order-less data).",
    )
    core: ModelSettings = ModelSettings()
    rfm: RfmSettings = RfmSettings()


class EngineSettings(BaseModel):
    """``[engine]``: where features, scores and the identity graph are computed.

    DuckDB (embedded, the default) carries a few million profiles on one machine; Spark runs
    the same feature SQL (translated by SQLGlot) on a cluster the user already has."""

    model_config = _FROZEN
    kind: Literal["duckdb", "spark"] = Field(
        "duckdb", description="'duckdb': embedded, one machine; 'spark': Apache Spark (pyspark)."
    )
    master: str = Field(
        "local[*]",
        description="Spark master: 'local[N]', a cluster URL (spark://host:7077, yarn, "
        "k8s://...) or a Spark Connect address (sc://host:15002).",
    )
    app_name: str = Field("cdp-connector", description="Spark application name.")
    executor_memory: str | None = Field(
        None, description="spark.executor.memory (e.g. '4g'); default: Spark's own."
    )
    conf: dict[str, str] = Field(
        default_factory=dict,
        description='Extra Spark settings, e.g. { "spark.sql.shuffle.partitions" = "400" }.',
    )
    warehouse: str | None = Field(
        None,
        description="Directory or object-store path (s3a://, abfss://, gs://) of the Parquet "
        "tables the engine reads; default: <workspace>/warehouse.",
    )

    @field_validator("master")
    @classmethod
    def _no_connect_token(cls, value: str) -> str:
        # the config file is not a secret; PySpark's Connect client reads the token from
        # SPARK_CONNECT_AUTHENTICATE_TOKEN when the address carries none
        if value.startswith("sc://") and "token=" in value.lower():
            raise ValueError(
                "a Spark Connect token does not belong in the config file: remove ';token=...' "
                "and set SPARK_CONNECT_AUTHENTICATE_TOKEN in the environment"
            )
        return value


class SourceConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", arbitrary_types_allowed=True)
    plugin: str = Field(
        description="Which plugin reads or writes this table (see `connector plugins`)"
    )
    enabled: bool = Field(True, description="A disabled source or destination is skipped")
    lookback: Duration = Field(
        timedelta(hours=1),
        description="Re-read this far behind the stored mark (late or out-of-order records)",
    )
    stream_lookback: dict[str, Duration] = Field(
        default_factory=dict,
        description='Per-stream lookback (e.g. { events = "72h" }); wins over `lookback` and '
        "over the stream's own default.",
    )
    settings: Any = None

    def lookback_for(self, stream: str, default: timedelta | None = None) -> timedelta:
        """The lookback of one stream: its configured one, else the longer of the source's
        ``lookback`` and the stream's own ``default``."""
        if stream in self.stream_lookback:
            return self.stream_lookback[stream]
        return max(self.lookback, default) if default is not None else self.lookback


class DestinationConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", arbitrary_types_allowed=True)
    plugin: str
    enabled: bool = True
    traits: tuple[str, ...] | Literal["all"] = "all"
    segments: tuple[str, ...] | Literal["all"] = "all"
    consent_policy: Literal["strict", "not_denied"] | None = Field(
        None,
        description="Who may be activated: 'strict' (an explicit grant) or 'not_denied' "
        "(anyone who has not said no); default: the destination's own (strict for Klaviyo, "
        "HubSpot, Meta and Google; not_denied for Segment and files).",
    )
    mode: Literal["upsert", "update_only"] = Field(
        "upsert",
        description="'update_only' never creates a contact or profile at the destination: "
        "people it does not hold yet are skipped (HubSpot, Klaviyo; others keep no records).",
    )
    settings: Any = None


class AppConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", arbitrary_types_allowed=True)
    workspace: WorkspaceSettings = WorkspaceSettings()
    identity: IdentitySettings = IdentitySettings()
    logging: LoggingSettings = LoggingSettings()
    sync: SyncSettings = SyncSettings()
    pull: PullSettings = PullSettings()
    privacy: PrivacySettings = PrivacySettings()
    model: ModelConfig = ModelConfig()
    engine: EngineSettings = EngineSettings()
    schedule: ScheduleSettings = ScheduleSettings()
    stream: StreamSettings = StreamSettings()
    alerts: AlertSettings = AlertSettings()
    sources: dict[str, SourceConfig] = Field(default_factory=dict)
    destinations: dict[str, DestinationConfig] = Field(default_factory=dict)
    config_path: Path | None = None
