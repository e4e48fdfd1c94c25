"""``connector stream`` end to end: signed Segment webhooks through the receiver and the spool
into real-time segments, delivered to the Klaviyo emulator within seconds; consent and holdouts
as in the batch run; a scheduled run afterwards plans no membership change."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from tests.realtime.kit import (
    SECRET,
    list_members,
    post,
    stream_config,
    streaming,
    track,
    wait_for,
    workspace,
    write_people,
)

from cdp_klaviyo.emulator import KlaviyoEmulator
from cdp_segment.settings import SegmentSettings
from cdp_segment.webhook import WebhookReceiver, spool_path
from connector.pipeline import run_pipeline


def _batch_run(cfg: Path) -> dict[str, dict[str, int]]:
    """Membership changes a scheduled run plans, per real-time segment: (adds, removes)."""
    ws = workspace(cfg)
    try:
        summary = run_pipeline(ws)
    finally:
        ws.close()
    assert not [f for f in summary.failures if "klaviyo" in f], summary.failures
    plan = summary.plans["klaviyo"]
    out: dict[str, dict[str, int]] = {}
    for change in [*plan.adds, *plan.removes]:
        assert change.segment is not None
        seg = out.setdefault(change.segment.id, {"add": 0, "remove": 0})
        seg["add" if change in plan.adds else "remove"] += 1
    return out


def test_events_move_memberships_within_seconds_and_the_batch_run_agrees(
    tmp_path: Path, klaviyo: KlaviyoEmulator
) -> None:
    cfg = stream_config(tmp_path, klaviyo.base_url)
    write_people(tmp_path, 6, denied={1})
    assert _batch_run(cfg) == {}  # the first sync: nobody is in a real-time segment yet
    settings = SegmentSettings(webhook_secret=SECRET)  # type: ignore[arg-type]
    spool = spool_path(settings, tmp_path / ".connector")
    now = datetime.now(UTC)
    events = [
        *(track(n, "Product Viewed", 0, category="coats") for n in range(3)),  # enters
        *(track(10 + n, "Product Viewed", 1, category="coats") for n in range(3)),  # no consent
        *(track(20 + n, "Product Viewed", 2, category="coats") for n in range(2)),  # only two
        track(30, "Product Viewed", 3, category="hats"),
        track(31, "Product Viewed", 3, category="coats", at=now - timedelta(days=9)),
        track(40, "Product Added", 4),  # abandons a cart
    ]
    bought = [  # one delivery: adds to cart and buys
        track(50, "Product Added", 5, at=now - timedelta(minutes=5)),
        track(51, "Order Completed", 5, revenue=40.0),
    ]
    with (
        WebhookReceiver(spool, SECRET.encode()) as rx,
        httpx.Client() as client,
        streaming(cfg) as stream,
    ):
        for message in events:
            assert post(client, rx.base_url, message).status_code == 200
        assert post(client, rx.base_url, bought).status_code == 200
        assert wait_for(lambda: list_members(klaviyo.base_url, "Coats intent") != set())
        assert wait_for(lambda: list_members(klaviyo.base_url, "Cart abandoned") != set())
        # person 2's third view arrives in a batch with a signed retry of the first
        assert post(client, rx.base_url, [track(22, "Product Viewed", 2, category="coats"),
                                          events[0]]).status_code == 200  # fmt: skip
        assert wait_for(lambda: len(list_members(klaviyo.base_url, "Coats intent")) == 2)
        # person 4 buys: leaves the abandoned carts
        assert post(client, rx.base_url, track(41, "Order Completed", 4)).status_code == 200
        assert wait_for(lambda: list_members(klaviyo.base_url, "Cart abandoned") == set())
    assert list_members(klaviyo.base_url, "Coats intent") == {
        "person0@example.org",
        "person2@example.org",
    }
    assert stream["totals"]["events"] == len(events) + 2 + 2
    # Klaviyo: 3 adds and 1 remove; the files export (every segment, no consent channel) also
    # takes person 1, who denied e-mail
    assert stream["totals"]["membership_changes"] == 4 + 5
    ws = workspace(cfg)
    try:
        row = ws.runs.get(stream["run_id"])
    finally:
        ws.close()
    assert row is not None
    assert row.status == "stopped"
    assert row.counts["events"] == stream["totals"]["events"]
    assert _batch_run(cfg) == {}  # the scheduled run computes the same memberships
