"""Tombstones end to end: the files source's ``deleted`` flag against every emulator destination.

A person deleted upstream is removed from every list and audience on the same run, stops being
scored, and comes back when the source yields the record alive again (a tombstone is not an
erasure). What lands is read back from the emulators' state.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest
from tests.gauntlet import ads_segment as ads
from tests.gauntlet import harness as h

from connector.config import load_config
from connector.pipeline import Workspace, run_pipeline
from connector.pipeline.runner import RunSummary

FILES_SOURCE = """
[sources.shop]
plugin = "files"
path = "data"
lookback = "1h"
"""
PEOPLE = 40


def _people() -> list[dict[str, Any]]:
    return [
        {
            "source_id": f"c{i}",
            "email": f"tomb{i}@example.org",
            "first_name": f"T{i}",
            "updated_at": "2025-01-01T00:00:00Z",
            "consent": {"email": "granted", "ads": "granted"},
        }
        for i in range(PEOPLE)
    ]


def _orders() -> list[dict[str, Any]]:
    return [
        {
            "source_event_id": f"o{i}-{k}",
            "type": "order_completed",
            "occurred_at": f"2025-{1 + (i + k) % 11:02d}-{1 + i % 27:02d}T10:00:00Z",
            "email": f"tomb{i}@example.org",
            "revenue": 10 + (i * 37 + k * 13) % 400,
            "currency": "USD",
        }
        for i in range(PEOPLE)
        for k in range(1 + i % 4)
    ]


def _jsonl(path: Path, rows: list[dict[str, Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


@pytest.fixture
def scenario(tmp_path: Path) -> Iterator[tuple[Path, h.Platforms]]:
    with h.platforms(0) as p:
        root = tmp_path / "ws"
        cfg = h.write_config(root, p, extra=FILES_SOURCE)
        # the CRMs are destinations only here: read back as sources, they would keep the person
        text = cfg.read_text()
        for name in ("hubspot", "klaviyo"):
            head = f'[sources.{name}]\nplugin = "{name}"\n'
            text = text.replace(head, head + "enabled = false\n")
        cfg.write_text(text)
        _jsonl(root / "data" / "profiles" / "people.jsonl", _people())
        _jsonl(root / "data" / "events" / "orders.jsonl", _orders())
        yield cfg, p


def _run(cfg: Path, p: h.Platforms) -> RunSummary:
    ws = Workspace(load_config(cfg, env=p.env))
    try:
        return run_pipeline(ws)
    finally:
        ws.close()


def _presence(p: h.Platforms, root: Path, email: str) -> dict[str, bool]:
    """Where the person is a member of a list or audience (or flagged in a Segment trait)."""
    view = h.destination_view(p, root)
    pid = _profile_id(root, email)
    seg_flags = view["segment_traits"].get(email, {})
    return {
        "klaviyo": any(email in m for m in view["klaviyo_lists"].values()),
        "hubspot": any(email in m for m in view["hubspot_lists"].values()),
        "meta": any(h._meta_hash(email) in m for m in view["meta_audiences"].values()),
        "google": any(ads.google_hash(email) in m for m in view["google_lists"].values()),
        "segment": any(v is True for v in seg_flags.values()),
        "files": any(who in (email, pid) for _s, who in view["files"]["memberships"]),
    }


def _profile_id(root: Path, email: str) -> str:
    con = duckdb.connect(str(root / ".connector" / "data.duckdb"), read_only=True)
    try:
        row = con.execute(
            "SELECT profile_id FROM identities WHERE kind = 'email' AND value = ?", [email]
        ).fetchone()
    finally:
        con.close()
    assert row is not None
    return str(row[0])


def _high_member(p: h.Platforms, root: Path) -> str:
    """Someone in the high tier, so Meta and Google hold them too."""
    for i in range(PEOPLE):
        email = f"tomb{i}@example.org"
        if all(_presence(p, root, email).values()):
            return email
    raise AssertionError("no person reached every destination")


def test_person_deleted_upstream_leaves_every_destination_on_that_run(
    scenario: tuple[Path, h.Platforms],
) -> None:
    cfg, p = scenario
    root = cfg.parent
    first = _run(cfg, p)
    assert first.status == "completed", (first.failures, first.counts, first.stages)
    email = _high_member(p, root)
    source_id = "c" + email.removeprefix("tomb").split("@")[0]
    before = h.destination_view(p, root)

    # the people file is read again whole next to it: its older live row is no restore
    gone = {"source_id": source_id, "deleted": True, "deleted_at": "2025-06-01T00:00:00Z"}
    _jsonl(root / "data" / "profiles" / "gone.jsonl", [gone])
    second = _run(cfg, p)
    assert second.status == "completed", second.failures
    assert second.counts["inactive"] == 1
    assert _presence(p, root, email) == dict.fromkeys(_presence(p, root, email), False)
    # nobody else moved: every other list member is still there
    after = h.destination_view(p, root)
    for name, members in before["klaviyo_lists"].items():
        assert sorted(m for m in members if m != email) == after["klaviyo_lists"][name]
    con = duckdb.connect(str(root / ".connector" / "data.duckdb"), read_only=True)
    try:
        pid = _profile_id(root, email)
        assert con.execute("SELECT count(*) FROM profiles WHERE profile_id = ?", [pid]).fetchone()
        assert con.execute(
            "SELECT count(*) FROM scores WHERE profile_id = ?", [pid]
        ).fetchone() == (0,)
        assert con.execute("SELECT count(*) FROM profiles").fetchone() == (PEOPLE - 1,)
    finally:
        con.close()

    third = _run(cfg, p)
    assert third.counts["planned"] == 0, "the removal is not planned again"

    # the source yields the record alive again, edited after the deletion (a restore): the
    # person comes back
    revived = dict(_people()[int(source_id[1:])], updated_at="2025-12-01T00:00:00Z")
    _jsonl(root / "data" / "profiles" / "restored.jsonl", [revived])
    fourth = _run(cfg, p)
    assert fourth.counts["inactive"] == 0
    assert all(_presence(p, root, email).values())
