"""Logging set-up: text or JSON lines, with secrets and raw contact details redacted.

Every secret the config loader resolves is registered with :mod:`connector.redaction`; a filter
masks secrets, email addresses and phone numbers in every record before any handler sees it.
Code names people by ``profile_id``; the filter is the safety net for what slips through
(exception messages from SDKs, URLs with keys).
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from connector.redaction import redact, register_secret

__all__ = [
    "LIBRARY_LOGGERS",
    "JsonFormatter",
    "RedactingFilter",
    "adopt_plugin_logger",
    "forget_log_format",
    "install_library_redaction",
    "log_format",
    "redact",
    "register_secret",
    "report_crash",
    "setup_logging",
]

_FORMAT: list[str] = []  # the format setup_logging installed, if it ran


def log_format() -> str | None:
    """'text' or 'json' once :func:`setup_logging` ran, else None."""
    return _FORMAT[-1] if _FORMAT else None


def forget_log_format() -> None:
    """A new command starts without a format (in-process callers run several commands)."""
    _FORMAT.clear()


def report_crash(exc: BaseException, fmt: str | None = None) -> None:
    """Log an unexpected exception with its traceback, redacted, in the configured format (a
    JSON line in JSON mode); logging is set up first when the crash came before the config."""
    if log_format() is None:
        setup_logging("INFO", fmt if fmt in ("text", "json") else "text")
    logging.getLogger("connector").critical(
        "crashed: %s: %s", type(exc).__name__, exc, exc_info=(type(exc), exc, exc.__traceback__)
    )


class RedactingFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        clean = redact(message)
        if record.exc_info and record.exc_info[1] is not None:
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        record.msg = clean
        record.args = None
        return True


# Loggers of the HTTP stacks SDKs are built on. Their DEBUG lines carry full URLs, and some APIs
# put the access token in the query string. A filter on the logger itself runs before any
# handler, ours or a user's, so the record is clean wherever it goes. Each plugin names its own
# SDKs' loggers in its spec (``PluginSpec.sdk_loggers``), which adds them here.
LIBRARY_LOGGERS = (
    "urllib3.connectionpool",
    "httpx",
    "httpcore.connection",
    "httpcore.http11",
    "requests",
)


def install_library_redaction(names: Iterable[str] = LIBRARY_LOGGERS) -> None:
    """Attach the redacting filter to these libraries' loggers (idempotent)."""
    for name in names:
        lib = logging.getLogger(name)
        if not any(isinstance(f, RedactingFilter) for f in lib.filters):
            lib.addFilter(RedactingFilter())


_PLUGIN_LOGGERS: set[str] = set()
_LEVEL: list[str] = []  # the level setup_logging installed, if it ran


def adopt_plugin_logger(name: str) -> None:
    """Give a plugin package's logger the configured level, now and on every later setup."""
    _PLUGIN_LOGGERS.add(name)
    if _LEVEL:
        logging.getLogger(name).setLevel(_LEVEL[0])


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key in ("run_id", "stage", "plugin", "profile_id"):
            if hasattr(record, key):
                payload[key] = getattr(record, key)
        if record.exc_text:
            payload["exc"] = record.exc_text
        return json.dumps(payload, ensure_ascii=False)


def setup_logging(level: str = "INFO", fmt: str = "text") -> None:
    """Configure the ``connector`` and plugin loggers once (idempotent)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(RedactingFilter())
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s"))
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, "_connector", False)]:
        root.removeHandler(old)
    handler._connector = True  # type: ignore[attr-defined]
    _FORMAT[:] = [fmt]
    root.addHandler(handler)
    root.setLevel(logging.WARNING)
    _LEVEL[:] = [level]
    for name in ("connector", "cdp", *sorted(_PLUGIN_LOGGERS)):
        logging.getLogger(name).setLevel(level)
