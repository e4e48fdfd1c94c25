"""Webhooks (Actions) batches: a JSON array signed over the whole body, through the receiver,
the spool and a pipeline run into the data store, each message stored once."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
from tests.conftest import write_config

from cdp_segment.settings import SegmentSettings
from cdp_segment.webhook import WebhookLimits, WebhookReceiver, sign, spool_path
from connector.config import load_config
from connector.pipeline import Workspace, run_pipeline

SECRET = "whsec-e2e-batches"


def _order(i: int) -> dict[str, Any]:
    return {
        "type": "track",
        "event": "Order Completed",
        "userId": f"u-{i % 40}",
        "messageId": f"batch-{i:04d}",
        "timestamp": "2011-11-11T11:11:11Z",
        "properties": {"order_id": f"A{i}", "revenue": float(i % 50) + 0.5, "currency": "GBP"},
    }


def _actions_post(client: httpx.Client, url: str, body: bytes) -> httpx.Response:
    """What Webhooks (Actions) sends with "Use X-Segment-Signature Header" on."""
    headers = {
        "Content-Type": "application/json",
        "X-Segment-Signature": sign(SECRET.encode(), body),
    }
    return client.post(url, content=body, headers=headers)


def test_batched_deliveries_are_stored_once_per_message(tmp_path: Path) -> None:
    cfg = write_config(
        tmp_path,
        '\n[sources.segment]\nplugin = "segment"\nwebhook_secret = { env = "SEGMENT_HOOK" }\n',
    )
    env = {"SEGMENT_HOOK": SECRET}
    config = load_config(cfg, env=env)
    settings = SegmentSettings(webhook_secret=SECRET)  # type: ignore[arg-type]
    spool = spool_path(settings, config.workspace.path)
    orders = [_order(i) for i in range(300)]
    batch = [*orders[:200], orders[5], "not a message", {"no": "type"}]  # a repeat, two bad
    body = json.dumps(batch).encode()
    limits = WebhookLimits(max_batch=250, max_body=512 << 10)
    with WebhookReceiver(spool, SECRET.encode(), limits=limits) as rx, httpx.Client() as client:
        first = _actions_post(client, rx.base_url, body)
        assert first.status_code == 200, first.text
        assert first.json() == {
            "received": 203,
            "stored": 200,
            "duplicates": 1,  # orders[5] twice in one batch
            "rejected": [
                {"index": 201, "error": "not a Segment message"},
                {"index": 202, "error": "not a Segment message"},
            ],
        }
        retry = _actions_post(client, rx.base_url, body)  # Segment retries the whole batch
        assert retry.json()["stored"] == 0
        overlap = json.dumps(orders[150:]).encode()  # the next batch overlaps the first
        assert _actions_post(client, rx.base_url, overlap).json()["stored"] == 100

        # the classic single-event path keeps working, with X-Signature
        single = json.dumps(_order(999)).encode()
        classic = client.post(
            rx.base_url, content=single, headers={"X-Signature": sign(SECRET.encode(), single)}
        )
        assert classic.json() == {"stored": True, "messageId": "batch-0999"}

        # legacy Actions signing covers only the first event: refused, with the setting to use
        legacy = json.dumps([_order(1000), _order(1001)]).encode()
        first_only = sign(SECRET.encode(), json.dumps(_order(1000)).encode())
        refused = client.post(rx.base_url, content=legacy, headers={"X-Signature": first_only})
        assert refused.status_code == 401
        assert "Use X-Segment-Signature Header" in refused.json()["error"]
        resent = _actions_post(client, rx.base_url, legacy)  # the same pair, signed right
        tampered = client.post(
            rx.base_url,
            content=legacy.replace(b"u-0", b"u-9"),
            headers={"X-Segment-Signature": resent.request.headers["X-Segment-Signature"]},
        )
        assert tampered.status_code == 401

        too_many = _actions_post(client, rx.base_url, json.dumps([_order(2000)] * 251).encode())
        assert too_many.status_code == 413
        assert "Batch Size" in too_many.json()["error"]
        too_big = _actions_post(client, rx.base_url, b"[" + b" " * (600 << 10) + b"]")
        assert too_big.status_code == 413
        empty = _actions_post(client, rx.base_url, b"[]")
        assert empty.status_code == 400
        stored = rx.spool.count()
    assert stored == 300 + 1 + 2  # 300 orders, the classic one, the legacy pair re-sent signed

    ws = Workspace(load_config(cfg, env=env))
    try:
        summary = run_pipeline(ws)
        rows = ws.data.con.execute(
            "SELECT source_event_id, revenue FROM events WHERE source = 'segment'"
        ).fetchall()
    finally:
        ws.close()
    ids = [r[0] for r in rows]
    assert len(ids) == len(set(ids)) == stored  # each message once in the store
    assert {f"batch-{i:04d}" for i in range(300)} <= set(ids)
    revenue = {r[0]: r[1] for r in rows}
    assert revenue["batch-0007"] == 7.5
    assert summary.counts["quarantined"] == 0
