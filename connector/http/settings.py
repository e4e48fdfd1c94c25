"""One settings vocabulary for the HTTP knobs every platform plugin has.

Each HTTP plugin's settings model inherits ``HttpSettings``, so ``base_url``, ``timeout``,
``max_attempts`` and ``max_retry_seconds`` mean the same thing (and are spelled the same way) in
every ``[sources.*]`` and ``[destinations.*]`` table. A plugin whose defaults differ redeclares
the field through the ``*_field`` helpers, keeping the shared bounds and description. Keys a
plugin spelled differently before are listed in its ``renamed`` table: they are still accepted,
mapped onto the shared key, and a deprecation is logged (a ``warnings`` warning would break
callers that turn warnings into errors).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any, ClassVar, NamedTuple
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from connector.http.retry import RetryPolicy

__all__ = [
    "HttpSettings",
    "RenamedKey",
    "attempts_field",
    "retry_seconds_field",
    "timeout_field",
]

log = logging.getLogger("connector.config")


class RenamedKey(NamedTuple):
    """An old key of a plugin's settings: the shared key it became, and how its value maps."""

    key: str
    convert: Callable[[Any], Any] | None = None


def timeout_field(default: float = 60.0) -> Any:
    return Field(default, gt=0, description="Per-request timeout (s)")


def attempts_field(default: int = 8) -> Any:
    return Field(default, ge=1, description="Attempts per request before giving up")


def retry_seconds_field(default: float = 300.0) -> Any:
    return Field(default, gt=0, description="Total seconds the retries of one request may take")


class HttpSettings(BaseModel):
    """Where a platform's API lives and how patiently we talk to it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    renamed: ClassVar[Mapping[str, RenamedKey]] = {}

    base_url: str = Field(description="API root; point it at the emulator in tests and demos")
    timeout: float = timeout_field()
    max_attempts: int = attempts_field()
    max_retry_seconds: float = retry_seconds_field()

    @field_validator("base_url")
    @classmethod
    def _absolute_http(cls, value: str) -> str:
        """``127.0.0.1:8710`` would fail at the first request as a host that cannot be
        reached; it is the scheme that is missing, so say that when the config is read."""
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(
                f"{value!r} is not an http(s) URL: write it with its scheme "
                "(https://… for a platform, http://127.0.0.1:PORT for an emulator)"
            )
        return value

    @model_validator(mode="before")
    @classmethod
    def _accept_renamed_keys(cls, data: Any) -> Any:
        if not isinstance(data, Mapping) or not cls.renamed.keys() & data.keys():
            return data
        out = dict(data)
        for old, new in cls.renamed.items():
            if old not in out:
                continue
            value = out.pop(old)
            if new.key in out:
                raise ValueError(f"set {new.key!r} or its old name {old!r}, not both")
            out[new.key] = new.convert(value) if new.convert else value
            log.warning("%s: setting %r is deprecated, use %r instead", cls.__name__, old, new.key)
        return out

    def retry_policy(self, **options: Any) -> RetryPolicy:
        """A ``RetryPolicy`` bounded by ``max_attempts`` and ``max_retry_seconds``."""
        return RetryPolicy(
            max_attempts=self.max_attempts, max_delay=self.max_retry_seconds, **options
        )
