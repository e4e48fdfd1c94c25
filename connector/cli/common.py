"""What every command shares: the --config option, error → exit code mapping, the console."""

from __future__ import annotations

import functools
import logging
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from enum import IntEnum
from pathlib import Path
from typing import Annotated, Any, TypeVar

import click
import typer
from rich.console import Console
from rich.markup import escape

from connector.config.loader import load_config
from connector.config.models import AppConfig
from connector.errors import ConfigError, ConnectorError, RunLockedError
from connector.logs import forget_log_format, report_crash, setup_logging
from connector.logs import log_format as current_log_format
from connector.redaction import redact, redact_secrets_and_pii

__all__ = [
    "ConfigOpt",
    "ExitCode",
    "LogFormatOpt",
    "SecretsOpt",
    "console",
    "err",
    "handle_errors",
    "load",
    "revealing",
    "safe",
]


class _RedactingStream:
    """sys.stdout or sys.stderr (looked up at each write, so test runners can swap them) with
    secrets and contact details masked: the last line of defence behind :func:`safe`."""

    def __init__(self, name: str) -> None:
        self._name = name
        self.revealing = False

    def write(self, text: str) -> int:
        target = getattr(sys, self._name)
        return int(target.write(text if self.revealing else redact_secrets_and_pii(text)) or 0)

    def __getattr__(self, attr: str) -> Any:
        return getattr(getattr(sys, self._name), attr)


_STDOUT = _RedactingStream("stdout")
console = Console(file=_STDOUT)  # type: ignore[arg-type]
err = Console(file=_RedactingStream("stderr"), stderr=True)  # type: ignore[arg-type]


@contextmanager
def revealing() -> Iterator[None]:
    """Let stdout show identifiers unmasked: only for ``profiles explain --reveal``."""
    _STDOUT.revealing = True
    try:
        yield
    finally:
        _STDOUT.revealing = False


def safe(value: object) -> str:
    """Data for a Rich string: redacted, control characters inert, markup escaped, so a
    ``[/x]`` in a record id cannot crash a command and ``[secret]`` stays visible."""
    return escape(redact(str(value)))


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
    """Turn our errors into one clear line on stderr and a documented exit code; anything
    else is a crash, reported redacted (a JSON line with ``--log-format json``), exit 1."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        forget_log_format()
        fmt = kwargs.get("log_format")
        try:
            return fn(*args, **kwargs)
        except (typer.Exit, click.exceptions.Exit):
            raise
        except ConfigError as exc:
            _fail("config error: ", str(exc), "red", ExitCode.USAGE, fmt)
        except RunLockedError as exc:
            _fail("", str(exc), "yellow", ExitCode.LOCKED, fmt)
        except ConnectorError as exc:
            _fail("error: ", str(exc), "red", ExitCode.FAILED, fmt)
        except (typer.Abort, click.exceptions.ClickException, click.exceptions.Abort):
            raise
        except Exception as exc:  # noqa: BLE001 - the CLI's outer boundary: no raw traceback
            report_crash(exc, fmt)
            raise typer.Exit(ExitCode.FAILED) from None

    return wrapper  # type: ignore[return-value]


def _fail(label: str, message: str, colour: str, code: ExitCode, fmt: str | None) -> None:
    """One line on stderr: Rich text, or a JSON log line when logs are JSON."""
    if (current_log_format() or fmt) == "json":
        if current_log_format() is None:
            setup_logging("INFO", "json")
        logging.getLogger("connector.cli").error("%s%s", label, message)
    elif label:
        err.print(f"[{colour}]{label}[/{colour}]{safe(message)}", highlight=False, soft_wrap=True)
    else:
        err.print(f"[{colour}]{safe(message)}[/{colour}]", highlight=False, soft_wrap=True)
    raise typer.Exit(code) from None


def load(
    config: Path | None,
    secrets: Path | None = None,
    log_format: str | None = None,
    *,
    read_only: bool = False,
) -> AppConfig:
    """The config, logging set up. ``read_only`` commands never call a platform, so they
    load without production secrets (an unset one reads as a placeholder)."""
    warnings: list[str] = []
    cfg = load_config(
        config, secrets_path=secrets, warnings=warnings, secrets_required=not read_only
    )
    fmt = log_format or cfg.logging.format
    if fmt not in ("text", "json"):
        raise ConfigError(f"--log-format: expected 'text' or 'json', got {fmt!r}")
    setup_logging(cfg.logging.level, fmt)
    for message in warnings:
        logging.getLogger("connector.config").warning("%s", message)
    return cfg


def is_tty() -> bool:
    return sys.stderr.isatty()
