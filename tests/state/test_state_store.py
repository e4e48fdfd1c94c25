"""The state store's contract, on SQLite and on a real PostgreSQL server (same migrations)."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text
from tests.scheduler.pipeline_helpers import make_pipeline

from connector.config import load_config
from connector.pipeline import Workspace, run_pipeline
from connector.plugin.changes import Change, ChangeKind, Recipient, SegmentRef
from connector.state import (
    CatalogueEntry,
    CursorStore,
    Ledger,
    PluginStateStore,
    RecordError,
    RunStore,
    SegmentCatalogue,
    StateStore,
)
from connector.state.schema import SCHEMA_VERSION


@pytest.fixture
def store(state_url: str) -> StateStore:
    s = StateStore(state_url)
    yield s
    s.close()


def test_migrations_apply_once_and_refuse_a_newer_schema(state_url: str) -> None:
    first = StateStore(state_url)
    assert first.version == SCHEMA_VERSION
    first.close()
    again = StateStore(state_url)  # idempotent on an existing database
    assert again.version == SCHEMA_VERSION
    with again.engine.begin() as conn:
        conn.execute(text("UPDATE meta SET value = '999' WHERE key = 'schema_version'"))
    again.close()
    with pytest.raises(RuntimeError, match="newer than this connector"):
        StateStore(state_url)


def test_cursors_and_plugin_memory(store: StateStore) -> None:
    cursors = CursorStore(store)
    assert cursors.get("crm", "contacts") is None
    cursors.commit("crm", "contacts", "2024-01-01T00:00:00Z", "r1")
    cursors.commit("crm", "contacts", "2024-02-01T00:00:00Z", "r2")
    assert cursors.get("crm", "contacts") == "2024-02-01T00:00:00Z"
    assert cursors.all() == {("crm", "contacts"): "2024-02-01T00:00:00Z"}
    kv = PluginStateStore(store, "destinations.klaviyo")
    kv.put("list:rfm_high", "L1")
    kv.put("list:rfm_high", "L2")
    kv.put("list:100%_off", "L3")
    assert kv.get("list:rfm_high") == "L2"
    assert dict(kv.items("list:100%")) == {"list:100%_off": "L3"}  # LIKE wildcards escaped


def _upsert(pid: str, digest: str) -> Change:
    return Change(
        kind=ChangeKind.UPSERT,
        recipient=Recipient(profile_id=pid),
        key=f"t:{pid}",
        digest=digest,
        traits={"rfm_tier": "high"},
    )


def _member(kind: ChangeKind, seg: str, pid: str) -> Change:
    return Change(
        kind=kind,
        recipient=Recipient(profile_id=pid),
        key=f"m:{seg}:{pid}",
        digest="",
        segment=SegmentRef(seg, seg, ""),
    )


def test_ledger_records_replaces_and_deletes_in_chunks(store: StateStore) -> None:
    ledger = Ledger(store)
    n = 1_234  # more than two chunks of the tuple IN delete
    ledger.record("crm", [_upsert(f"p{i}", "d1") for i in range(n)], "r1")
    ledger.record("other", [_upsert("p0", "x")], "r1")
    assert ledger.count("crm") == n
    ledger.record("crm", [_upsert(f"p{i}", "d2") for i in range(0, n, 2)], "r2")
    entries = ledger.entries("crm")
    assert len(entries) == n
    assert entries["t:p0"].digest == "d2"
    assert entries["t:p1"].digest == "d1"
    assert entries["t:p0"].trait_names == ("rfm_tier",)
    adds = [_member(ChangeKind.ADD, "rfm_high", f"p{i}") for i in range(600)]
    ledger.record("crm", adds, "r3")
    ledger.record(
        "crm", [_member(ChangeKind.REMOVE, "rfm_high", f"p{i}") for i in range(100)], "r4"
    )
    assert ledger.count("crm") == n + 500
    assert ledger.forget_segment("crm", "rfm_high") == 500
    assert ledger.count("crm") == n
    assert ledger.count("other") == 1  # deletes never cross destinations
    assert ledger.count() == n + 1


def test_runs_errors_and_abandoned_runs(store: StateStore) -> None:
    runs = RunStore(store)
    runs.start("r20240101-aaa", dry_run=False)
    runs.start("r20240102-bbb", dry_run=True)
    runs.update("r20240102-bbb", status="completed", counts={"planned": 3}, ended=True)
    assert (
        runs.add_errors(
            "r20240102-bbb",
            [
                RecordError("apply", "crm", "bad email", "t:p1", "p1"),
                RecordError("pull", "crm", "x"),
            ],
        )
        == 2
    )
    assert runs.mark_abandoned() == 1
    row = runs.get("r20240102")
    assert row is not None
    assert (row.status, row.counts, row.error_count, row.dry_run) == (
        "completed",
        {"planned": 3},
        2,
        True,
    )
    assert [r.status for r in runs.recent()] == ["completed", "abandoned"]
    assert [e.reason for e in runs.errors("r20240102-bbb")] == ["bad email", "x"]
    assert runs.get("r2024") is None  # ambiguous prefix


def test_segment_catalogue_versions_definitions(store: StateStore) -> None:
    cat = SegmentCatalogue(store)
    cat.sync([CatalogueEntry("rfm_high", "High value", "tier", definition="score >= 12", size=5)])
    cat.sync([CatalogueEntry("rfm_high", "High value", "tier", definition="score >= 13", size=4)])
    cat.sync([CatalogueEntry("rfm_low", "Low value", "tier", size=9)])
    entries = {e.segment_id: e for e in cat.all()}
    assert entries["rfm_high"].version == 2
    assert not entries["rfm_high"].active
    assert entries["rfm_low"].active


def test_a_whole_pipeline_on_this_state_store(tmp_path: Path, state_url: str) -> None:
    url = None if state_url.startswith("sqlite") else state_url
    cfg = load_config(make_pipeline(tmp_path, people=80, state_url=url), env={})
    for expected_planned in (None, 0):
        ws = Workspace(cfg)
        try:
            summary = run_pipeline(ws)
        finally:
            ws.close()
        assert summary.status == "completed"
        if expected_planned is None:
            assert summary.counts["applied"] == summary.counts["planned"] > 0
        else:
            assert summary.counts["planned"] == expected_planned
