"""The embedded engine's memory is bounded by ``workspace.memory_limit`` (issue 14 item 6):
without a limit DuckDB takes up to 80 % of the machine (a 1M-profile run reached 5.3 GB)."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.conftest import write_config

from connector.config import load_config
from connector.errors import ConfigError
from connector.store.memory import STORE_SHARE, limit_bytes, share_of
from connector.sync.planned import plan_engine
from connector.workspace import Workspace


def _setting(con: object, name: str) -> str:
    row = con.execute(f"SELECT current_setting('{name}')").fetchone()  # type: ignore[attr-defined]
    return str(row[0])


def _config(tmp_path: Path, limit: str | None) -> Path:
    cfg = write_config(tmp_path)
    if limit is not None:
        text = cfg.read_text().replace(
            'path = ".connector"', f'path = ".connector"\nmemory_limit = "{limit}"', 1
        )
        cfg.write_text(text)
    return cfg


def test_the_data_store_keeps_to_the_limit_and_spills_inside_the_workspace(tmp_path: Path) -> None:
    ws = Workspace(load_config(_config(tmp_path, "512MB")))
    try:
        assert _setting(ws.data.con, "memory_limit") == "488.2 MiB"
        spill = Path(_setting(ws.data.con, "temp_directory"))
        assert spill.is_relative_to(ws.path)
    finally:
        ws.close()


def test_the_default_is_two_gigabytes(tmp_path: Path) -> None:
    ws = Workspace(load_config(_config(tmp_path, None)))
    try:
        assert _setting(ws.data.con, "memory_limit") == "1.8 GiB"
    finally:
        ws.close()


def test_a_limit_without_a_unit_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="memory_limit"):
        load_config(_config(tmp_path, "lots"))


def test_the_planning_database_takes_the_limit() -> None:
    import connector.sync.planned as planned

    before = planned._DATABASE
    planned._DATABASE = None
    try:
        con = plan_engine(None, "256MB")
        assert _setting(con, "memory_limit") == "244.1 MiB"
        con.close()
    finally:
        planned._DATABASE = before


def test_the_store_lends_three_quarters_of_the_limit_while_the_run_plans(tmp_path: Path) -> None:
    """Plan and apply run with the store at a quarter of the limit (the planning database gets
    the rest: ``share_of``), and the store has the whole limit back afterwards, even after a
    failure."""
    ws = Workspace(load_config(_config(tmp_path, "2GB")))
    try:
        with ws.data.lend_memory():
            assert _setting(ws.data.con, "memory_limit") == "476.8 MiB"
        assert _setting(ws.data.con, "memory_limit") == "1.8 GiB"
        with pytest.raises(RuntimeError), ws.data.lend_memory():
            raise RuntimeError("a destination failed")
        assert _setting(ws.data.con, "memory_limit") == "1.8 GiB"
    finally:
        ws.close()
    assert limit_bytes("2GB") == 2 * 10**9
    assert limit_bytes("512 MiB") == 512 * 2**20
    assert share_of("2GB", 1 - STORE_SHARE) == "1500000000 bytes"
    with pytest.raises(ValueError, match="memory size"):
        limit_bytes("lots")
