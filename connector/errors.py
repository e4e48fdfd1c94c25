"""One error tree, grouped by what the caller should do about the failure.

``RetryableError`` means "try again later" (optionally after ``retry_after`` seconds),
``FatalError`` means "stop this destination or run", ``ConfigError`` is the fatal error a user
fixes in the config file, and ``SkippableError`` marks one bad record that is quarantined while
the rest of its batch goes on.
"""

from __future__ import annotations

__all__ = [
    "AuthError",
    "ConfigError",
    "ConnectorError",
    "DiskFullError",
    "FatalError",
    "RetryableError",
    "RunLockedError",
    "SkippableError",
    "describe",
]


class ConnectorError(Exception):
    """Base of every error the connector raises on purpose."""


class RetryableError(ConnectorError):
    """A transient failure: the same request may succeed later."""

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class FatalError(ConnectorError):
    """A failure retries cannot fix: the stage or destination stops."""


class ConfigError(FatalError):
    """The configuration is wrong; the message names the key (and file) to fix."""


class AuthError(FatalError):
    """Credentials were refused (revoked or expired token): stop that platform, do not retry."""


class DiskFullError(FatalError):
    """A store could not write because its disk (or file-size limit) is full.

    Every store write is transactional, so what was committed stands and the rest is redone by
    the next run: the message says so, and the original error stays the ``__cause__``.
    """

    def __init__(self, path: str) -> None:
        super().__init__(f"disk full at {path}: free space and re-run; nothing was lost")
        self.path = path


class RunLockedError(FatalError):
    """Another run of the same pipeline holds the run lock."""


class SkippableError(ConnectorError):
    """One record is bad; it is quarantined with this reason and the rest continue."""

    def __init__(self, reason: str, *, field: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.field = field


def describe(exc: BaseException, limit: int = 160) -> str:
    """``Type: message`` of an unexpected exception, short enough for a quarantine reason."""
    text = " ".join(str(exc).split())
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
