"""A lost data store or state store: the run refuses, and ``--full-refresh`` recovers.

Issue 20: with the data store deleted between runs, the next run re-created it empty, re-read
only what was newer than the cursors and pushed a wrong state everywhere (memberships removed,
CLV 0); with the state store lost, every membership was re-added and ownership forgotten. Now
the run refuses (exit 1, naming both stores and the recovery) and changes nothing anywhere.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from tests.conftest import write_config
from tests.gauntlet import figures
from tests.gauntlet import harness as h


def _writes(p: h.Platforms) -> int:
    """Requests that could change a platform (admin endpoints aside)."""
    return sum(
        1
        for emu in p.all().values()
        for r in emu.recorder.entries()
        if r.method != "GET" and not r.path.startswith("/__emulator__")
    )


def _platform_states(p: h.Platforms) -> dict[str, Any]:
    return {name: p.state(name) for name in p.all()}


def _refused(cfg: Path, p: h.Platforms, store: str) -> None:
    writes, states = _writes(p), _platform_states(p)
    done = h.run_cli(cfg, p)
    assert done.returncode == 1, done.stdout + done.stderr
    message = " ".join(done.stderr.split())
    assert "data store" in message, message
    assert "state store" in message, message
    assert f"the {store} store" in message, message
    assert "connector run --full-refresh" in message, message
    assert "Traceback" not in done.stderr
    assert _writes(p) == writes, "a refused run sent nothing"
    assert _platform_states(p) == states


def _recover(cfg: Path, p: h.Platforms, root: Path, reference: dict[str, Any], label: str) -> None:
    fixed = h.run_cli(cfg, p, "run", "--full-refresh")
    assert fixed.returncode in (0, 3), fixed.stdout + fixed.stderr
    h.settle(cfg, p)
    view = h.assert_ledger_agrees(p, root)
    equal = h.comparable(view) == h.comparable(reference["view"])
    figures.record("crash", label, {"tried": 1, "lost": int(not equal), "duplicated": 0})
    assert equal


def test_a_lost_data_store_is_refused_and_full_refresh_recovers(
    tmp_path: Path, reference: dict[str, Any]
) -> None:
    with h.platforms(h.PROFILES) as p:
        cfg = h.write_config(tmp_path, p)
        h.settle(cfg, p)
        for f in (tmp_path / ".connector").glob("data.duckdb*"):
            f.unlink()
        _refused(cfg, p, "data")
        _refused(cfg, p, "data")  # the empty store the refused run opened is refused too
        _recover(cfg, p, tmp_path, reference, "lost data store, then --full-refresh")


def test_a_lost_state_store_is_refused_and_full_refresh_recovers(
    tmp_path: Path, reference: dict[str, Any]
) -> None:
    with h.platforms(h.PROFILES) as p:
        cfg = h.write_config(tmp_path, p)
        h.settle(cfg, p)
        for f in (tmp_path / ".connector").glob("state.db*"):
            f.unlink()
        _refused(cfg, p, "state")
        _recover(cfg, p, tmp_path, reference, "lost state store, then --full-refresh")


def _files_run(cfg: Path, **kwargs: Any) -> Any:
    from connector.config import load_config
    from connector.pipeline import Workspace, run_pipeline

    ws = Workspace(load_config(cfg, env={}))
    try:
        return run_pipeline(ws, **kwargs)
    finally:
        ws.close()


def test_an_empty_data_store_file_is_recreated_on_the_first_run_only(tmp_path: Path) -> None:
    """A zero-byte store left by a run killed while creating it (first run) is created again;
    after the stores are bound the same empty file means a lost store and is refused."""
    from connector.pipeline.stores import StoresMismatchError

    cfg = write_config(tmp_path)
    (tmp_path / "data" / "profiles" / "p.jsonl").write_text(
        '{"source_id": "a", "email": "a@example.org", "updated_at": "2011-11-01T00:00:00Z"}\n'
    )
    store = tmp_path / ".connector" / "data.duckdb"
    store.parent.mkdir(parents=True)
    store.touch()
    assert _files_run(cfg).status == "completed"
    delivered = (tmp_path / "out" / "traits.csv").read_text()
    store.unlink()
    store.touch()
    with pytest.raises(StoresMismatchError, match="--full-refresh"):
        _files_run(cfg)
    assert (tmp_path / "out" / "traits.csv").read_text() == delivered
    recovered = _files_run(cfg, full_refresh=True)
    assert recovered.status == "completed"
    assert recovered.counts["pulled"] == 1
