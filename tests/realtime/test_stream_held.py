"""`connector stream` holds the segments the last scheduled run held with its forecasts: a
window rule that reads a stale churn risk is not delivered from it between runs."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

from connector.realtime.session import HELD_TTL, _Session
from connector.state import RunStore, StateStore


def _modelled(runs: RunStore, run_id: str, model: dict[str, Any]) -> None:
    runs.start(run_id, dry_run=False)
    runs.update(run_id, status="partial", stages={"model": model}, ended=True)


def test_the_stream_holds_what_the_last_run_held(tmp_path: Path) -> None:
    store = StateStore(f"sqlite:///{tmp_path / 'state.db'}")
    try:
        runs = RunStore(store)
        session: Any = SimpleNamespace(ws=SimpleNamespace(runs=runs), _held=(-HELD_TTL, None))
        held = {"rt": "At risk: its rule reads churn_risk"}
        _modelled(
            runs,
            "r1",
            {"segments": {"rt": 3}, "held_traits": ["churn_risk"], "held_segments": held},
        )
        assert _Session.held(session) == {"rt"}
        _modelled(runs, "r2", {"segments": {"rt": 4}})  # data current again
        assert _Session.held(session) == {"rt"}, "re-read once a minute, not per event"
        session._held = (-HELD_TTL, None)
        assert _Session.held(session) == frozenset(), "the newest run that modelled decides"
        runs.start("r3", dry_run=False)  # a run that has not modelled yet changes nothing
        session._held = (-HELD_TTL, None)
        assert _Session.held(session) == frozenset()
    finally:
        store.close()
