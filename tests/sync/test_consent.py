from __future__ import annotations

import pytest

from connector.errors import ConfigError
from connector.sync.consent import allowed


@pytest.mark.parametrize(
    ("status", "strict", "not_denied"),
    [
        ("granted", True, True),
        ("GRANTED", True, True),
        ("denied", False, False),
        ("unknown", False, True),
        (None, False, True),
        ("", False, True),
        ("grnted", False, False),  # unrecognised text fails closed
    ],
)
def test_policies(status: str | None, strict: bool, not_denied: bool) -> None:
    assert allowed(status, "strict") is strict
    assert allowed(status, "not_denied") is not_denied


def test_default_is_strict() -> None:
    assert allowed("unknown") is False


def test_unknown_policy_is_config_error() -> None:
    with pytest.raises(ConfigError):
        allowed("granted", "lenient")
