"""The same Segment-spec lines through the files plugin and the Segment plugin.

Both plugins read Segment's public message format (identify / track / page / alias); the files
plugin from NDJSON dropped in a folder, the Segment plugin from its S3 archive and webhook.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from cdp_files.settings import FilesSettings
from cdp_files.source import FilesSource
from cdp_segment.mapping import event_record, profile_record
from connector.plugin.spec import PluginContext

LINES: list[dict[str, Any]] = [
    {
        "type": "identify",
        "messageId": "m-identify",
        "userId": "u-1",
        "anonymousId": "a-1",
        "timestamp": "2026-03-01T10:00:00Z",
        "traits": {
            "email": "Jane@Example.com",
            "firstName": "Jane",
            "lastName": "Doe",
            "address": {"city": "Lyon", "postalCode": "69001", "country": "FR"},
            "plan": "gold",
        },
    },
    {
        "type": "identify",
        "messageId": "m-anon-identify",
        "anonymousId": "a-2",
        "timestamp": "2026-03-01T10:01:00Z",
        "context": {"traits": {"email": "sam@example.com"}},
    },
    {
        "type": "track",
        "messageId": "m-order",
        "userId": "u-1",
        "event": "Order Completed",
        "timestamp": "2026-03-01T11:00:00Z",
        "context": {"traits": {"email": "jane@example.com"}},
        "properties": {
            "order_id": "o-1",
            "revenue": 25.0,
            "currency": "EUR",
            "products": [
                {"product_id": "p-1", "name": "Mug", "price": 10.0, "quantity": 2},
                {"sku": "s-2", "name": "Tea", "price": 5.0},
            ],
        },
    },
    {
        "type": "page",
        "messageId": "m-page",
        "anonymousId": "a-2",
        "name": "Home",
        "timestamp": "2026-03-01T09:00:00Z",
        "properties": {"url": "https://shop.example/"},
    },
    {
        "type": "alias",
        "messageId": "m-alias",
        "userId": "u-1",
        "previousId": "a-2",
        "timestamp": "2026-03-01T12:00:00Z",
    },
    {
        "type": "track",
        "messageId": "m-nobody",
        "event": "Product Viewed",
        "timestamp": "2026-03-01T12:30:00Z",
        "properties": {"product_id": "p-9"},
    },
]
FILE = "spec.jsonl"


def _through_files(tmp_path: Path) -> dict[str, list[dict[str, Any]]]:
    folder = tmp_path / "segment"
    folder.mkdir()
    (folder / FILE).write_text("".join(json.dumps(line) + "\n" for line in LINES))
    context = PluginContext(
        instance="files",
        workspace=tmp_path,
        state=None,  # type: ignore[arg-type]  # the files source keeps no state
        logger=logging.getLogger("test"),
    )
    source = FilesSource(FilesSettings(path=tmp_path), context)
    streams = {s.name: s for s in source.streams()}
    return {
        kind: [dict(r) for r in source.read(streams[f"segment_{kind}"], None)]
        for kind in ("profiles", "events")
    }


def _through_segment() -> dict[str, list[dict[str, Any]]]:
    profiles = [profile_record(line, region="US") for line in LINES]
    events = [event_record(line, source_id=FILE, region="US") for line in LINES]
    return {
        "profiles": [p for p in profiles if p is not None],
        "events": [e for e in events if e is not None],
    }


def _by(records: list[dict[str, Any]], key: str) -> dict[str, dict[str, Any]]:
    return {str(r[key]): r for r in records}


def test_the_two_plugins_disagree_on_the_same_lines(tmp_path: Path) -> None:
    files, segment = _through_files(tmp_path), _through_segment()
    files_events = _by(files["events"], "source_event_id")
    segment_events = _by(segment["events"], "source_event_id")
    # an anonymous identify: "anon:" in one, "anonymous:" in the other
    assert {p["source_id"] for p in files["profiles"]} == {"u-1", "anon:a-2", "alias:m-alias"}
    assert {p["source_id"] for p in segment["profiles"]} == {"u-1", "anonymous:a-2"}
    # alias: a profile in one, an event in the other; identify is an event only in one
    assert set(files_events) == {"m-order", "m-page", "m-nobody"}
    assert set(segment_events) == {"m-identify", "m-anon-identify", "m-order", "m-page", "m-alias"}
    # the identify's extra trait and the address are kept by one only
    files_jane = _by(files["profiles"], "source_id")["u-1"]
    segment_jane = _by(segment["profiles"], "source_id")["u-1"]
    assert "traits" not in files_jane
    assert segment_jane["traits"] == {"plan": "gold"}
    # the second product: quantity missing in one, 1 in the other
    assert files_events["m-order"]["properties"]["products"][1]["quantity"] is None
    assert segment_events["m-order"]["properties"]["products"][1]["quantity"] == 1
