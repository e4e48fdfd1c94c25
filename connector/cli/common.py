"""What every command shares: the --config option, error → exit code mapping, the console."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from enum import IntEnum
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console

from connector.config.loader import load_config
from connector.config.models import AppConfig
from connector.errors import ConfigError, ConnectorError, RunLockedError
from connector.logs import redact, setup_logging

__all__ = [
    "ConfigOpt",
    "ExitCode",
    "LogFormatOpt",
    "SecretsOpt",
    "console",
    "err",
    "handle_errors",
    "load",
]

console = Console()
err = Console(stderr=True)

ConfigOpt = Annotated[
    Path | None,
    typer.Option(
        "--config", "-c", help="Config file (default: $CONNECTOR_CONFIG or ./connector.toml)."
    ),
]
SecretsOpt = Annotated[
    Path | None,
    typer.Option(
        "--secrets",
        help="Secrets file (default: $CONNECTOR_SECRETS_FILE, else connector.secrets.toml "
        "beside the config).",
    ),
]
LogFormatOpt = Annotated[
    str | None,
    typer.Option("--log-format", help="Log lines as 'text' or 'json' (default from config)."),
]


class ExitCode(IntEnum):
    """Documented in the README: scripts and schedulers branch on these."""

    OK = 0
    FAILED = 1
    USAGE = 2  # bad command line or configuration
    REJECTS = 3  # run completed, but some records were rejected, quarantined or left to retry
    LOCKED = 4  # another run holds the run lock


F = TypeVar("F", bound=Callable[..., Any])


def handle_errors(fn: F) -> F:
    """Turn our errors into one clear line on stderr and a documented exit code."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except ConfigError as exc:
            err.print(
                f"[red]config error:[/red] {redact(str(exc))}", highlight=False, soft_wrap=True
            )
            raise typer.Exit(ExitCode.USAGE) from None
        except RunLockedError as exc:
            err.print(f"[yellow]{redact(str(exc))}[/yellow]", highlight=False, soft_wrap=True)
            raise typer.Exit(ExitCode.LOCKED) from None
        except ConnectorError as exc:
            err.print(f"[red]error:[/red] {redact(str(exc))}", highlight=False, soft_wrap=True)
            raise typer.Exit(ExitCode.FAILED) from None

    return wrapper  # type: ignore[return-value]


def load(
    config: Path | None, secrets: Path | None = None, log_format: str | None = None
) -> AppConfig:
    cfg = load_config(config, secrets_path=secrets)
    fmt = log_format or cfg.logging.format
    if fmt not in ("text", "json"):
        raise ConfigError(f"--log-format: expected 'text' or 'json', got {fmt!r}")
    setup_logging(cfg.logging.level, fmt)
    return cfg


def is_tty() -> bool:
    return sys.stderr.isatty()
