"""Operations of ``connector stream``: lines appended to event files are tailed (a half-written
line waits for its newline), a scheduled run started meanwhile gets the run lock handed over and
agrees with the stream, the stream goes on afterwards, and its health endpoint answers."""

from __future__ import annotations

import json
import socket
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
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


def _view(n: int, person: int) -> dict[str, Any]:
    return {
        "source_event_id": f"live-{n}",
        "type": "product_viewed",
        "email": f"person{person}@example.org",
        "occurred_at": datetime.now(UTC).isoformat(),
        "properties": {"category": "coats"},
    }


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_tailed_files_handover_to_a_run_and_health(
    tmp_path: Path, klaviyo: KlaviyoEmulator
) -> None:
    cfg = stream_config(tmp_path, klaviyo.base_url)
    write_people(tmp_path, 4)
    ws = workspace(cfg)
    try:
        run_pipeline(ws)
    finally:
        ws.close()
    live = tmp_path / "data" / "events" / "live.jsonl"
    port = _free_port()
    with streaming(cfg, health_port=port) as stream:
        health = httpx.get(stream["health"])
        assert health.status_code == 200
        assert health.json()["status"] == "running"
        lines = [json.dumps(_view(n, 0)) + "\n" for n in range(3)]
        half = json.dumps(_view(3, 1))
        live.write_text("".join(lines) + half[:20])  # the last line is still being written
        assert wait_for(lambda: list_members(klaviyo.base_url, "Coats intent") == {
            "person0@example.org"})  # fmt: skip
        bad_phone = {**_view(5, 1), "phone": "+1 555 0100"}  # kept by its e-mail, warned
        with live.open("a") as fh:
            fh.write(half[20:] + "\n" + "not json\n")
            fh.write(json.dumps(_view(4, 1)) + "\n" + json.dumps(bad_phone) + "\n")
        assert wait_for(lambda: len(list_members(klaviyo.base_url, "Coats intent")) == 2)

        ws = workspace(cfg)  # a scheduled run while the stream holds the lock
        try:
            summary = run_pipeline(ws)
        finally:
            ws.close()
        live_changes = [c for c in (*summary.plans["klaviyo"].adds,
                                    *summary.plans["klaviyo"].removes)]  # fmt: skip
        assert live_changes == []  # it agrees with what the stream delivered

        with live.open("a") as fh:  # the stream goes on after handing the lock over
            fh.write("".join(json.dumps(_view(n, 2)) + "\n" for n in (6, 7, 8)))
        assert wait_for(lambda: len(list_members(klaviyo.base_url, "Coats intent")) == 3)
        totals = httpx.get(stream["health"]).json()["totals"]
    assert totals["events"] == 9
    assert totals["quarantined"] == 1  # the line that is not JSON, counted, nothing else lost
    assert totals["warnings"] == 1  # the invalid phone left out, its event kept
    assert not (tmp_path / ".connector" / "run.lock.want").exists()


def test_a_sweep_delivers_what_time_alone_changes(tmp_path: Path, klaviyo: KlaviyoEmulator) -> None:
    """A view makes a person "just viewed" for 7.2 seconds; no event says when that ends: the
    sweep (every second here) removes them."""
    rule = (
        '{ id = "just_viewed", name = "Just viewed", realtime = true, '
        'expression = "hours_since(product_viewed) < 0.002" },'
    )
    cfg = stream_config(
        tmp_path, klaviyo.base_url, rules=rule, sweep="1s", segments=("just_viewed",)
    )
    write_people(tmp_path, 2)
    ws = workspace(cfg)
    try:
        run_pipeline(ws)
    finally:
        ws.close()
    live = tmp_path / "data" / "events" / "live.jsonl"
    with streaming(cfg):
        live.write_text(json.dumps(_view(0, 1)) + "\n")
        assert wait_for(lambda: list_members(klaviyo.base_url, "Just viewed") == {
            "person1@example.org"})  # fmt: skip
        assert wait_for(lambda: list_members(klaviyo.base_url, "Just viewed") == set(), 30)
