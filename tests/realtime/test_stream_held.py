"""`connector stream` holds the segments the last scheduled run held with its forecasts: a
window rule that reads a stale churn risk is not delivered from it between runs."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from tests.realtime.kit import (
    list_members,
    stream_config,
    streaming,
    wait_for,
    workspace,
    write_people,
)

from cdp_klaviyo.emulator import KlaviyoEmulator
from connector.pipeline import run_pipeline
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
        runs.start("dry", dry_run=True)  # `connector plan` delivers nothing: it does not count
        runs.update("dry", status="dry_run", stages={"model": {"segments": {"rt": 4}}}, ended=True)
        session._held = (-HELD_TTL, None)
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


def _event(n: int, kind: str, person: int, **props: str) -> str:
    return json.dumps({
        "source_event_id": f"held-{n}",
        "type": kind,
        "email": f"person{person}@example.org",
        "occurred_at": datetime.now(UTC).isoformat(),
        "properties": props,
    }) + "\n"  # fmt: skip


def test_a_held_list_is_not_delivered_while_the_others_are(
    tmp_path: Path, klaviyo: KlaviyoEmulator
) -> None:
    """End to end: the last run held "Coats intent" (as a run with stale forecasts records it);
    the stream delivers a cart abandoned in the same session but not the held list."""
    cfg = stream_config(tmp_path, klaviyo.base_url)
    write_people(tmp_path, 3)
    ws = workspace(cfg)
    try:
        run_pipeline(ws)
        held = {"coats_intent": "Coats intent: read as held by the last run"}
        _modelled(ws.runs, "held-run", {"segments": {"coats_intent": 0}, "held_segments": held})
    finally:
        ws.close()
    live = tmp_path / "data" / "events" / "live.jsonl"
    with streaming(cfg):
        live.write_text("".join(_event(n, "product_viewed", 0, category="coats")
                                for n in range(3)))  # fmt: skip
        with live.open("a") as fh:
            fh.write(_event(9, "added_to_cart", 1))
        assert wait_for(lambda: list_members(klaviyo.base_url, "Cart abandoned") == {
            "person1@example.org"})  # fmt: skip
    assert list_members(klaviyo.base_url, "Coats intent") == set(), "a held list is not synced"
