"""Ids a destination reports back are stored set-based, the later one per (profile, kind)."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import write_config

from connector.config import load_config
from connector.pipeline import Workspace
from connector.pipeline.activate import store_learned


def test_learned_ids_are_stored_with_the_latest_value_per_profile_and_kind(
    tmp_path: Path,
) -> None:
    ws = Workspace(load_config(write_config(tmp_path), env={}))
    try:
        store_learned(ws, "crm", [("p1", "crm_id", "a"), ("p2", "crm_id", "b")])
        store_learned(ws, "crm", [("p1", "crm_id", "c"), ("p1", "crm_id", "d")])
        store_learned(ws, "crm", [])
        rows = ws.data.con.execute(
            "SELECT profile_id, kind, value, destination FROM learned_ids ORDER BY profile_id"
        ).fetchall()
    finally:
        ws.close()
    assert rows == [("p1", "crm_id", "d", "crm"), ("p2", "crm_id", "b", "crm")]
