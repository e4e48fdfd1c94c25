"""The kit's pytest fixtures and builders, as a plugin author's own tests use them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cdp_files.settings import FilesSettings
from cdp_files.source import STREAMS, FilesSource
from connector.plugin.spec import PluginContext
from connector.schema.records import validate_event, validate_profile
from connector.testing import builders


def test_builders_make_valid_records_one_step_apart(
    canonical_profiles: list[dict[str, Any]], canonical_events: list[dict[str, Any]]
) -> None:
    for profile in canonical_profiles:
        validate_profile(profile, source="kit", region="US")
    for event in canonical_events:
        validate_event(event, source="kit", region="US")
    assert canonical_profiles[3]["updated_at"] == "2024-01-01T03:00:00Z"
    assert builders.profiles(1, start=3) == [canonical_profiles[3]]


def test_files_source_reads_the_input_dir(input_dir: Path, plugin_context: PluginContext) -> None:
    source = FilesSource(FilesSettings(path=input_dir), plugin_context)
    profiles, events = (list(source.read(s, None)) for s in STREAMS[:2])
    assert [p["source_id"] for p in profiles] == [f"p{i}" for i in range(20)]
    assert len(events) == 40
    assert list(source.read(STREAMS[0], "2024-01-01T18:00:00Z")) == profiles[18:]
