"""`connector listen segment`: the webhook receiver behind the CLI, then the next run ingests it."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
from tests.conftest import write_config

from cdp_segment.webhook import sign
from connector.config import load_config
from connector.pipeline import Workspace, run_pipeline

SECRET = "whsec-e2e-listen"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_listen_stores_signed_events_and_the_next_run_ingests_them(tmp_path: Path) -> None:
    cfg = write_config(
        tmp_path,
        '\n[sources.segment]\nplugin = "segment"\nwebhook_secret = { env = "SEGMENT_HOOK" }\n',
    )
    port = _free_port()
    env = {**os.environ, "SEGMENT_HOOK": SECRET}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "connector",
            "listen",
            "segment",
            "--config",
            str(cfg),
            "--port",
            str(port),
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        url = f"http://127.0.0.1:{port}/"
        for _ in range(100):
            try:
                httpx.get(url, timeout=0.5)
                break
            except httpx.TransportError:
                time.sleep(0.1)
        event = {
            "type": "track",
            "event": "Order Completed",
            "userId": "u-42",
            "messageId": "msg-1",
            "timestamp": "2011-11-11T11:11:11Z",
            "properties": {"order_id": "A1", "revenue": 42.5, "currency": "GBP"},
        }
        body = json.dumps(event).encode()
        bad = httpx.post(url, content=body, headers={"X-Signature": "0" * 40})
        assert bad.status_code == 401
        for _ in range(2):  # Segment retries: the same message twice is stored once
            ok = httpx.post(url, content=body, headers={"X-Signature": sign(SECRET.encode(), body)})
            assert ok.status_code == 200
    finally:
        proc.terminate()
        out, err = proc.communicate(timeout=30)
    assert "listening for segment webhooks" in out, err
    ws = Workspace(load_config(cfg, env=env))
    try:
        summary = run_pipeline(ws)
        rows = ws.data.con.execute(
            "SELECT type, revenue FROM events WHERE source = 'segment'"
        ).fetchall()
    finally:
        ws.close()
    assert rows == [("order_completed", 42.5)]
    assert summary.counts["quarantined"] == 0
