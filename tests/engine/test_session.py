"""Session settings checked without a JVM (the default suite): what a Spark Connect client
needs is named before any connection is tried."""

from __future__ import annotations

import importlib.util
from typing import Any

import pytest

from connector.config.models import EngineSettings
from connector.engine import session as engine_session
from connector.errors import ConfigError


def test_a_connect_master_without_the_client_packages_is_a_config_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real = importlib.util.find_spec

    def without_zstd(name: str, *args: Any) -> Any:
        return None if name == "zstandard" else real(name, *args)

    monkeypatch.setattr(importlib.util, "find_spec", without_zstd)
    missing = engine_session.connect_available()
    assert missing is not None
    assert "zstandard" in missing
    assert "cdp-connector[spark]" in missing
    with pytest.raises(ConfigError, match="zstandard"):
        engine_session.spark_session(EngineSettings(kind="spark", master="sc://127.0.0.1:1"))
