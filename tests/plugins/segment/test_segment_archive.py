"""Pulling the S3-destination archive: exactly once, incrementally, with identity links."""

from __future__ import annotations

import gzip
import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from cdp_segment.emulator.archive import ArchiveManifest, write_archive
from cdp_segment.settings import SegmentSettings
from cdp_segment.source import SegmentSource
from conftest import EventStore
from connector.testing.context import make_context


def _source(root: Path, tmp_path: Path, **kw: Any) -> SegmentSource:
    return SegmentSource(SegmentSettings(archive_url=str(root), **kw), make_context(tmp_path))


def _pull(source: SegmentSource, store: EventStore) -> dict[str, tuple[int, int]]:
    return {s.name: store.pull(source, s) for s in source.streams()}


def _check_pull(manifest: ArchiveManifest, store: EventStore, source: SegmentSource) -> None:
    assert len(store.events) == manifest.unique_events
    assert manifest.lines > manifest.unique_events  # the archive does hold repeated messageIds
    again = _pull(source, store)
    assert again["events"][1] == 0
    assert again["profiles"][1] == 0
    # Identity links on known pairs: some record names both ids (alias / identify / known
    # browsing), which is what the core's union-find merges on; and the customer bought.
    linked = {
        (e.ids.get("segment_anonymous_id"), e.ids.get("segment_user_id"))
        for e in store.events.values()
        if len(e.ids) == 2
    }
    buyers = {
        e.ids["segment_user_id"] for e in store.events.values() if e.type == "order_completed"
    }
    anon_browsers = {
        e.ids["segment_anonymous_id"]
        for e in store.events.values()
        if e.ids.keys() == {"segment_anonymous_id"}
    }
    assert manifest.known_pairs
    for anon, user in manifest.known_pairs:
        assert (anon, user) in linked
        assert user in buyers
        assert anon in anon_browsers


def test_archive_is_pulled_once_and_links_anonymous_browsing(tmp_path: Path) -> None:
    manifest = write_archive(tmp_path / "bucket", users=300, events=8_000, days=6, seed=3)
    source = _source(tmp_path / "bucket", tmp_path)
    store = EventStore()
    first = _pull(source, store)
    assert first["profiles"][1] == 300
    _check_pull(manifest, store, source)
    prof = store.profiles[manifest.known_pairs[0][1]]
    assert prof.email
    assert prof.phone
    assert prof.first_name
    assert prof.city
    assert prof.country == "US"


def test_ecommerce_v2_events_map_to_canonical_types(tmp_path: Path) -> None:
    manifest = write_archive(tmp_path / "b", users=50, events=1_500, days=2, seed=1)
    store = EventStore()
    _pull(_source(tmp_path / "b", tmp_path), store)
    types = Counter(e.type for e in store.events.values())
    assert {
        "order_completed",
        "product_viewed",
        "added_to_cart",
        "checkout_started",
        "page_viewed",
        "identify",
        "alias",
    } <= set(types)
    assert types["identify"] == 50
    assert types["alias"] == 50
    order = next(e for e in store.events.values() if e.type == "order_completed")
    assert order.revenue
    assert order.revenue > 0
    assert order.currency == "USD"
    product = order.properties["products"][0]
    assert set(product) == {"id", "name", "category", "price", "quantity"}
    assert order.properties["segment_source"] == manifest.source_ids["server"]


def _add_file(root: Path, source_id: str, day: int, name: str, msgs: list[dict[str, Any]]) -> None:
    folder = root / "segment-logs" / source_id / str(day)
    folder.mkdir(parents=True, exist_ok=True)
    with gzip.open(folder / name, "wt") as fh:
        fh.writelines(json.dumps(m) + "\n" for m in msgs)


def _track(mid: str, user: str) -> dict[str, Any]:
    return {
        "type": "track",
        "event": "Product Viewed",
        "userId": user,
        "messageId": mid,
        "timestamp": "2025-03-02T10:00:00Z",
        "properties": {"product_id": "p1", "price": 3},
    }


def test_late_file_in_an_already_read_day_is_not_lost(tmp_path: Path) -> None:
    root, day = tmp_path / "b", 1_740_873_600_000
    _add_file(root, "SRC1", day, "a.gz", [_track("m1", "u1")])
    _add_file(root, "SRC1", day + 86_400_000, "a.gz", [_track("m2", "u1")])
    source, store = _source(root, tmp_path), EventStore()
    _pull(source, store)
    assert set(store.events) == {"m1", "m2"}
    assert store.marks["events"].startswith(f"{day + 86_400_000:013d}/SRC1/")
    # Segment copies the last hour of a day after the next day's folder exists.
    _add_file(root, "SRC1", day, "b.gz", [_track("m3", "u1"), _track("m1", "u1")])
    _add_file(root, "SRC2", day, "z.gz", [_track("m4", "u2")])
    again = _pull(source, store)
    assert set(store.events) == {"m1", "m2", "m3", "m4"}
    assert again["events"][1] == 2


def test_source_filter_and_tolerant_lines(tmp_path: Path) -> None:
    root, day = tmp_path / "b", 1_740_873_600_000
    _add_file(root, "KEEP", day, "a.gz", [_track("m1", "u1"), {"type": "delete", "userId": "u1"}])
    (root / "segment-logs" / "KEEP" / str(day) / "c.gz").write_bytes(
        gzip.compress(
            b'not json\n{"type":"track","event":"Signed Up","anonymousId":"a9",'
            b'"messageId":"m9","timestamp":"2025-03-02T10:00:00Z"}\n'
        )
    )
    _add_file(root, "DROP", day, "a.gz", [_track("m2", "u1")])
    (root / "segment-logs" / "dummy-object.txt").write_text("validation")
    store = EventStore()
    _pull(_source(root, tmp_path, source_ids=("KEEP",)), store)
    assert set(store.events) == {"m1", "m9"}
    assert store.events["m9"].type == "signed_up"


def test_fsspec_url_reads_the_same_layout(tmp_path: Path) -> None:
    fsspec = pytest.importorskip("fsspec")
    fs = fsspec.filesystem("memory")
    local = tmp_path / "b"
    write_archive(local, users=20, events=400, days=2, seed=5)
    for path in local.rglob("*.gz"):
        fs.pipe(f"/bucket/exports/{path.relative_to(local).as_posix()}", path.read_bytes())
    remote, direct = EventStore(), EventStore()
    _pull(
        _source(Path("unused"), tmp_path).__class__(
            SegmentSettings(archive_url="memory://bucket/exports"), make_context(tmp_path)
        ),
        remote,
    )
    _pull(_source(local, tmp_path), direct)
    assert set(remote.events) == set(direct.events)
    assert len(remote.events) == 400


@pytest.mark.long
@pytest.mark.slow
def test_50k_users_1m_events_pulled_exactly_once(tmp_path: Path) -> None:
    manifest = write_archive(tmp_path / "bucket", users=50_000, events=1_000_000, days=30, seed=7)
    source = _source(tmp_path / "bucket", tmp_path)
    store = EventStore()
    first = _pull(source, store)
    assert first["profiles"][1] == 50_000
    _check_pull(manifest, store, source)
