"""Segment archive through the whole run: anonymous browsing joins the customer who bought.

The archive generator records known pairs (an anonymousId that browsed before the same person
identified and later ordered); the real pull, validation and identity resolution must give
each pair one profile, and the order and the anonymous page views must belong to it.
"""

from __future__ import annotations

from pathlib import Path

from tests.conftest import write_config

from cdp_segment.emulator.archive import write_archive
from connector.config import load_config
from connector.pipeline import Workspace, run_pipeline
from connector.store import DataStore


def test_archive_links_anonymous_browsing_to_the_buyer(tmp_path: Path) -> None:
    archive = tmp_path / "archive"
    manifest = write_archive(archive, users=150, events=3_000, seed=3, days=10)
    assert manifest.known_pairs, "the generator made anonymous-then-known buyers"
    cfg = write_config(
        tmp_path,
        f"""
[sources.segment]
plugin = "segment"
archive_url = "{archive.as_posix()}"
lookback = "0s"
""",
    )
    ws = Workspace(load_config(cfg, env={}))
    try:
        first = run_pipeline(ws)
        second = run_pipeline(ws)
    finally:
        ws.close()
    assert first.counts["quarantined"] == 0
    assert second.counts["new"] == 0, "a rerun stores nothing new"

    store = DataStore(tmp_path / ".connector" / "data.duckdb")
    try:
        owner = dict(
            store.con.execute(
                "SELECT kind || ':' || value, profile_id FROM identities"
                " WHERE kind IN ('segment_anonymous_id', 'segment_user_id')"
            ).fetchall()
        )
        for anon, user in manifest.known_pairs:
            pid = owner[f"segment_user_id:{user}"]
            assert owner[f"segment_anonymous_id:{anon}"] == pid, (anon, user)
            kinds = {
                r[0]
                for r in store.con.execute(
                    "SELECT DISTINCT type FROM events WHERE profile_id = ?", [pid]
                ).fetchall()
            }
            assert "order_completed" in kinds
            assert "page_viewed" in kinds or "product_viewed" in kinds
        dupes = store.con.execute(
            "SELECT count(*) - count(DISTINCT source_event_id) FROM events"
        ).fetchall()
        assert dupes == [(0,)], "every message stored once"
    finally:
        store.close()
