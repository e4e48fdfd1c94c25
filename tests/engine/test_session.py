"""Session settings checked without a JVM (the default suite): what a Spark Connect client
needs is named before any connection is tried."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import pytest

from connector.config import load_config
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


def test_a_connect_token_in_the_master_address_is_refused(tmp_path: Path) -> None:
    """A token in `master` would sit in the config file and in `config show`."""
    cfg = tmp_path / "connector.toml"
    cfg.write_text('[engine]\nkind = "spark"\nmaster = "sc://spark.internal:15002/;token=s3cr3t"\n')
    with pytest.raises(ConfigError, match="SPARK_CONNECT_AUTHENTICATE_TOKEN") as refused:
        load_config(cfg, env={})
    assert "engine.master" in str(refused.value)
    assert "s3cr3t" not in str(refused.value)
    plain = EngineSettings(kind="spark", master="sc://spark.internal:15002/;use_ssl=true")
    assert plain.master.endswith("use_ssl=true")
