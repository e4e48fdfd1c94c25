"""Tombstones end to end: the files source's ``deleted`` flag against every emulator destination.

A person deleted upstream is removed from every list and audience on the same run, stops being
scored, and comes back when the source yields the record alive again (a tombstone is not an
erasure). What lands is read back from the emulators' state.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
from tests.gauntlet import harness as h
from tests.privacy import scenario as sc


def test_person_deleted_upstream_leaves_every_destination_on_that_run(tmp_path: Path) -> None:
    with sc.scenario(tmp_path) as (cfg, p):
        _deleted_then_restored(cfg, p)


def _deleted_then_restored(cfg: Path, p: h.Platforms) -> None:
    root = cfg.parent
    first = sc.run(cfg, p)
    assert first.status == "completed", first.failures
    i = sc.everywhere(p, root)
    email = sc.email_of(i)
    before = h.destination_view(p, root)

    # the people file is read again whole next to it: its older live row is no restore
    gone = {"source_id": f"c{i}", "deleted": True, "deleted_at": "2025-06-01T00:00:00Z"}
    sc.write_jsonl(root / "data" / "profiles" / "gone.jsonl", [gone])
    second = sc.run(cfg, p)
    assert second.status == "completed", second.failures
    assert second.counts["inactive"] == 1
    assert not any(sc.presence(p, root, email).values())
    # nobody else moved: every other list member is still there
    after = h.destination_view(p, root)
    for name, members in before["klaviyo_lists"].items():
        assert sorted(m for m in members if m != email) == after["klaviyo_lists"][name]
    pid = sc.profile_id(root, email)
    con = duckdb.connect(str(root / ".connector" / "data.duckdb"), read_only=True)
    try:
        assert con.execute(
            "SELECT count(*) FROM scores WHERE profile_id = ?", [pid]
        ).fetchone() == (0,)
        assert con.execute("SELECT count(*) FROM profiles").fetchone() == (sc.PEOPLE - 1,)
    finally:
        con.close()

    third = sc.run(cfg, p)
    assert third.counts["planned"] == 0, "the removal is not planned again"

    # the source yields the record alive again, edited after the deletion (a restore): the
    # person comes back
    revived = dict(sc.people()[i], updated_at="2025-12-01T00:00:00Z")
    sc.write_jsonl(root / "data" / "profiles" / "restored.jsonl", [revived])
    fourth = sc.run(cfg, p)
    assert fourth.counts["inactive"] == 0
    assert all(sc.presence(p, root, email).values())
