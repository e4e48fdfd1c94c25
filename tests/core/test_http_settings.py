"""The shared settings vocabulary of HTTP plugins (``connector.http.settings``)."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import ClassVar

import pytest
from pydantic import ValidationError

from connector.http.settings import HttpSettings, RenamedKey, timeout_field


class _Platform(HttpSettings):
    renamed: ClassVar[Mapping[str, RenamedKey]] = {
        "timeout_seconds": RenamedKey("timeout"),
        "max_retries": RenamedKey("max_attempts", lambda retries: int(retries) + 1),
    }
    base_url: str = "https://api.example.com"
    timeout: float = timeout_field(30.0)


def test_defaults_and_shared_bounds() -> None:
    settings = _Platform()
    assert (settings.timeout, settings.max_attempts, settings.max_retry_seconds) == (30.0, 8, 300.0)
    with pytest.raises(ValidationError):
        _Platform(timeout=0)
    with pytest.raises(ValidationError):
        _Platform(unknown_key=1)  # type: ignore[call-arg]


def test_old_key_names_are_accepted_and_logged(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="connector.config"):
        settings = _Platform.model_validate({"timeout_seconds": 2, "max_retries": 3})
    assert (settings.timeout, settings.max_attempts) == (2.0, 4)
    assert any("'timeout_seconds' is deprecated" in r.getMessage() for r in caplog.records)


def test_old_and_new_key_together_is_an_error() -> None:
    with pytest.raises(ValidationError, match="not both"):
        _Platform.model_validate({"timeout_seconds": 2, "timeout": 3})


def test_retry_policy_is_bounded_by_the_settings() -> None:
    policy = _Platform(max_attempts=3, max_retry_seconds=9).retry_policy()
    assert (policy.max_attempts, policy.max_delay) == (3, 9)


@pytest.mark.parametrize("url", ["127.0.0.1:8710", "api.hubapi.com", "ftp://x.example", "http://"])
def test_a_base_url_without_its_scheme_is_refused_when_read(url: str) -> None:
    with pytest.raises(ValidationError, match="is not an http\\(s\\) URL"):
        _Platform(base_url=url)
    assert _Platform(base_url="http://127.0.0.1:8710").base_url == "http://127.0.0.1:8710"
