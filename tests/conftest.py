"""Suite-wide fixtures: loopback-only network, and builders for workspaces with file plugins."""

from __future__ import annotations

import ipaddress
import os
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest_plugins = ["connector.testing.pytest_plugin"]

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"

_real_connect = socket.socket.connect


def _loopback_only(self: socket.socket, address: Any) -> Any:
    if isinstance(address, tuple) and self.family in (socket.AF_INET, socket.AF_INET6):
        host = address[0]
        try:
            ok = ipaddress.ip_address(host).is_loopback
        except ValueError:
            ok = host == "localhost"
        if not ok:
            raise OSError(f"tests may only connect to loopback addresses, not {host!r}")
    return _real_connect(self, address)


@pytest.fixture(autouse=True)
def _no_network(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(socket.socket, "connect", _loopback_only)
    return


ENGINE_ENV = "CONNECTOR_TEST_ENGINE"
# The `[engine]` table of test configs under CONNECTOR_TEST_ENGINE=spark: the settings of
# tests/engine's shared session, so in-process runs of one pytest process share its JVM
SPARK_ENGINE_TOML = """
[engine]
kind = "spark"
master = "local[2]"
app_name = "cdp-connector-tests"
conf = { "spark.sql.shuffle.partitions" = "2", "spark.default.parallelism" = "2" }
"""


def engine_under_test() -> str:
    """The compute engine test workspaces run on: ``$CONNECTOR_TEST_ENGINE``, default duckdb.

    ``CONNECTOR_TEST_ENGINE=spark pytest tests/e2e`` runs the end-to-end suite with
    ``[engine] kind = "spark"`` (README "Scale"); subprocess runs read the same config file."""
    engine = os.environ.get(ENGINE_ENV, "duckdb") or "duckdb"
    if engine not in ("duckdb", "spark"):
        raise ValueError(f"{ENGINE_ENV}={engine!r}: use duckdb or spark")
    return engine


def engine_toml() -> str:
    """The `[engine]` table a test config gets: none on DuckDB (the default)."""
    return SPARK_ENGINE_TOML if engine_under_test() == "spark" else ""


def write_config(
    root: Path, extra: str = "", *, as_of: str = "2011-12-10", engine: str = "rfm"
) -> Path:
    """A files-in, files-out pipeline under ``root`` (inputs in root/data, outputs in root/out),
    on the engine under test (`engine_under_test`) unless ``extra`` has its own `[engine]`."""
    (root / "data" / "profiles").mkdir(parents=True, exist_ok=True)
    (root / "data" / "events").mkdir(parents=True, exist_ok=True)
    cfg = root / "connector.toml"
    cfg.write_text(
        f"""
[workspace]
path = ".connector"

[identity]
default_region = "GB"

[model]
as_of = "{as_of}"
engine = "{engine}"

[sources.shop]
plugin = "files"
path = "data"
lookback = "1h"

[destinations.export]
plugin = "files"
path = "out"
batch_size = 1000
{extra}
{"" if "[engine]" in extra else engine_toml()}"""
    )
    return cfg


POSTGRES_ENV = "CONNECTOR_TEST_POSTGRES_URL"


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh, empty PostgreSQL database for one test (dropped afterwards).

    Needs ``CONNECTOR_TEST_POSTGRES_URL`` (an SQLAlchemy URL of a role allowed to create
    databases); `.ci/run` starts a real server and sets it (see `.ci/postgres.sh`).
    """
    import secrets as _secrets

    from sqlalchemy import create_engine, make_url, text
    from sqlalchemy.pool import NullPool

    base = os.environ.get(POSTGRES_ENV)
    if not base:
        pytest.skip(f"{POSTGRES_ENV} is not set: no PostgreSQL server to test against")
    name = "t_" + _secrets.token_hex(6)
    admin = create_engine(base, poolclass=NullPool, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(base).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def state_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Run a state-store test once on SQLite and once on a real PostgreSQL server."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'state.db'}"
    return str(request.getfixturevalue("postgres_url"))


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests marked ``long`` (each minutes long even alone) are collected first, so that
    xdist hands them out while every worker is still busy and no run ends on one of them: the
    slow suite spent its last minutes on one or two workers while the others sat idle.
    Every worker sorts the same collection the same way, as xdist requires."""
    items.sort(key=lambda item: item.get_closest_marker("long") is None)


def pytest_xdist_auto_num_workers(config: pytest.Config) -> int | None:
    """``-n auto`` (the default, pyproject.toml) starts two workers per core, at most the
    cores plus two: part of the default suite's time is spent waiting (on emulators' pacing,
    backoffs, subprocesses and the PostgreSQL server), which one worker per core leaves idle.
    On an idle 2-core host (2026-12-03) two workers took 871 s at 157 % of 200 % CPU, four
    808 s at 180 %. ``PYTEST_XDIST_AUTO_NUM_WORKERS`` still overrides it, as xdist documents."""
    if os.environ.get("PYTEST_XDIST_AUTO_NUM_WORKERS"):
        return None  # xdist's own hook reads it
    found = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    cores = found or 1
    return min(2 * cores, cores + 2)
