"""The sink's erase hook: called once the person is off every list, retried until it answers OK,
and the request completes only then (files in, files out)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import pytest
from tests.conftest import write_config

from cdp_files.sink import FilesSink
from connector.config import load_config
from connector.pipeline import Workspace, run_pipeline
from connector.pipeline.runner import RunSummary
from connector.plugin.changes import Outcome, Recipient
from connector.privacy.book import ErasureBook
from connector.privacy.keys import Hasher, identifier_key, load_key


def _run(cfg: Path) -> RunSummary:
    ws = Workspace(load_config(cfg, env={}))
    try:
        return run_pipeline(ws)
    finally:
        ws.close()


def _forget(cfg: Path, email: str) -> None:
    ws = Workspace(load_config(cfg, env={}))
    try:
        key = Hasher(load_key(ws.path))(identifier_key("email", email, "GB"))
        ErasureBook(ws.state).add([key])
    finally:
        ws.close()


def _requests(cfg: Path) -> list[tuple[str, dict[str, str]]]:
    ws = Workspace(load_config(cfg, env={}))
    try:
        return [(r.status, r.destinations) for r in ErasureBook(ws.state).requests()]
    finally:
        ws.close()


def test_a_failing_erase_hook_keeps_the_request_open_until_it_succeeds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = write_config(tmp_path)
    rows = [
        {"source_id": f"c{i}", "email": f"p{i}@example.org", "consent": {"ads": "granted"}}
        for i in range(6)
    ]
    events = [
        {
            "source_event_id": f"o{i}",
            "type": "order_completed",
            "occurred_at": "2011-11-01T10:00:00Z",
            "email": f"p{i}@example.org",
            "revenue": 10 + i,
        }
        for i in range(6)
    ]
    for name, data in (("profiles/p.jsonl", rows), ("events/e.jsonl", events)):
        (tmp_path / "data" / name).write_text("".join(json.dumps(r) + "\n" for r in data))
    assert _run(cfg).status == "completed"

    asked: list[list[str | None]] = []
    answer = [Outcome.retryable("privacy API busy")]

    def erase(self: FilesSink, recipients: Sequence[Recipient]) -> Sequence[Outcome]:
        asked.append([r.email for r in recipients])
        return answer * len(recipients)

    monkeypatch.setattr(FilesSink, "erase", erase, raising=False)
    _forget(cfg, "P3@example.org")
    second = _run(cfg)
    assert asked == [["p3@example.org"]], "asked once the person left every list"
    assert second.status == "partial"
    assert second.counts["erasure_destinations_left"] == 1
    assert _requests(cfg) == [("erasing", {"export": "1 left"})]

    answer[0] = Outcome.ok()
    third = _run(cfg)
    assert asked[-1] == ["p3@example.org"]
    assert third.counts["erasure_completed"] == 1
    assert _requests(cfg) == [("completed", {"export": "cleared"})]
    members = (tmp_path / "out" / "memberships.csv").read_text()
    assert members.count("\n") == 6, "five members and the header"
