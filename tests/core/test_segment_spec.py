"""The same Segment-spec lines through the files plugin and the Segment plugin.

Both plugins read Segment's public message format (identify / track / page / alias); the files
plugin from NDJSON dropped in a folder, the Segment plugin from its S3 archive and webhook.
They used to map the same line differently (``cdp_files/segment_spec.py`` against
``cdp_segment/mapping.py``); both now go through ``connector.schema.segment_spec``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from cdp_files.settings import FilesSettings
from cdp_files.source import FilesSource
from connector.schema.segment_spec import event_record, profile_record
from connector.testing.context import make_context

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
    source = FilesSource(FilesSettings(path=tmp_path), make_context(tmp_path, instance="files"))
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


def test_the_files_plugin_maps_lines_as_the_segment_plugin_does(tmp_path: Path) -> None:
    assert _through_files(tmp_path) == _through_segment()


def test_what_the_one_mapper_makes_of_the_lines() -> None:
    out = _through_segment()
    profiles = _by(out["profiles"], "source_id")
    events = _by(out["events"], "source_event_id")
    # an identify without userId is filed under its anonymous id; its context traits count
    assert set(profiles) == {"u-1", "anonymous:a-2"}
    assert profiles["anonymous:a-2"]["email"] == "sam@example.com"
    # traits the canonical profile has no column for are kept, the address is split
    assert profiles["u-1"]["traits"] == {"plan": "gold"}
    assert (profiles["u-1"]["city"], profiles["u-1"]["postal_code"]) == ("Lyon", "69001")
    # identify and alias are events too: alias joins previousId (anonymous) to userId
    assert events["m-alias"]["ids"] == {"segment_user_id": "u-1", "segment_anonymous_id": "a-2"}
    assert events["m-identify"]["type"] == "identify"
    # a track naming nobody is dropped; products get a quantity of 1 when none is given
    assert "m-nobody" not in events
    order = events["m-order"]
    assert (order["type"], order["revenue"], order["currency"]) == ("order_completed", 25.0, "EUR")
    assert [p["quantity"] for p in order["properties"]["products"]] == [2, 1]
    assert order["email"] == "jane@example.com"
    assert events["m-page"]["properties"]["name"] == "Home"
