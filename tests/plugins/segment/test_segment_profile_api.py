"""Profile API enrichment: traits of the users a run saw, read within the rate limit."""

from __future__ import annotations

from pathlib import Path

import httpx
from pydantic import SecretStr

from cdp_segment.emulator import SegmentEmulator
from cdp_segment.emulator.archive import write_archive
from cdp_segment.settings import SegmentSettings
from cdp_segment.source import SegmentSource
from conftest import EventStore
from connector.plugin.spec import EmulatorOptions
from connector.testing.context import make_context


def test_enrichment_reads_traits_of_users_seen_in_the_run(tmp_path: Path) -> None:
    write_archive(tmp_path / "b", users=40, events=800, days=2, seed=0)
    with SegmentEmulator(EmulatorOptions(seed_profiles=40, limits="real")) as emu:
        emu.profiles["user_id:usr_0000000005"]["lifetime_orders"] = 7  # a trait only Segment has
        settings = SegmentSettings(
            archive_url=str(tmp_path / "b"),
            space_id="spa_1",
            profile_api_token=SecretStr("token"),
            profile_api_url=emu.base_url,
            profile_api_traits_limit=3,
        )
        source = SegmentSource(settings, make_context(tmp_path))
        assert [s.name for s in source.streams()] == ["events", "profiles", "profile_api"]
        store = EventStore()
        for stream in source.streams():
            store.pull(source, stream)
        enriched = {k: v for k, v in store.profiles.items() if k.startswith("profile_api:")}
        assert len(enriched) == 40
        five = enriched["profile_api:usr_0000000005"]
        assert five.traits["lifetime_orders"] == 7
        assert five.email
        assert five.ids == {"segment_user_id": "usr_0000000005"}
        log = httpx.get(f"{emu.base_url}/__emulator__/requests").json()["requests"]
        calls = [r for r in log if r["path"].startswith("/v1/spaces/")]
        assert len(calls) >= 40 * 3  # paged by cursor, 3 traits a page
        assert all(r["status"] == 200 for r in calls)  # the budget kept us under 100/s
        assert all(r["query"]["limit"] == ["3"] for r in calls)
