"""The webhook receiver: signed, durable, exactly once, even across a crash."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from cdp_segment.settings import SegmentSettings
from cdp_segment.source import SegmentSource
from cdp_segment.webhook import WebhookReceiver, sign, spool_path
from cdp_segment.webhook.spool import Spool
from conftest import EventStore
from connector.testing.context import make_context

SECRET = b"shh-webhook-secret"
REPO = Path(__file__).resolve().parents[3]


def _event(i: int) -> dict[str, Any]:
    return {
        "version": 1,
        "type": "track",
        "event": "Product Viewed",
        "userId": f"u{i % 97}",
        "anonymousId": f"a{i % 89}",
        "messageId": f"msg-{i:06d}",
        "timestamp": "2025-03-02T10:00:00.000Z",
        "properties": {"product_id": f"p{i % 13}"},
    }


def _post(
    client: httpx.Client, url: str, msg: dict[str, Any], secret: bytes = SECRET
) -> httpx.Response:
    body = json.dumps(msg).encode()
    return client.post(
        url,
        content=body,
        headers={
            "Content-Type": "application/json",
            "User-Agent": "Segment.io/1.0",
            "X-Signature": sign(secret, body),
        },
    )


def test_bad_or_missing_signature_is_401_and_stores_nothing(tmp_path: Path) -> None:
    with WebhookReceiver(tmp_path / "spool.sqlite", SECRET) as rx, httpx.Client() as client:
        assert _post(client, rx.base_url, _event(1), secret=b"wrong").status_code == 401
        unsigned = client.post(rx.base_url, content=json.dumps(_event(2)).encode())
        assert unsigned.status_code == 401
        body = json.dumps(_event(3)).encode()
        tampered = client.post(
            rx.base_url,
            content=body.replace(b"u3", b"u4"),
            headers={"X-Signature": sign(SECRET, body)},
        )
        assert tampered.status_code == 401
        assert rx.spool.count() == 0


def test_retries_store_once_and_the_live_stream_reads_the_spool(tmp_path: Path) -> None:
    settings = SegmentSettings(webhook_secret=SecretStr(SECRET.decode()))
    hooked: list[str] = []
    path = spool_path(settings, tmp_path)
    with (
        WebhookReceiver(path, SECRET, on_event=lambda m: hooked.append(m["messageId"])) as rx,
        httpx.Client() as client,
    ):
        first = _post(client, rx.base_url, _event(1))
        retry = _post(client, rx.base_url, _event(1))
        assert first.status_code == retry.status_code == 200
        assert first.json()["stored"] is True
        assert retry.json()["stored"] is False
        identify = {
            "type": "identify",
            "userId": "u1",
            "messageId": "id-1",
            "traits": {"email": "Ann@Shop.example", "firstName": "Ann"},
            "timestamp": "2025-03-02T10:00:00Z",
        }
        assert _post(client, rx.base_url, identify).status_code == 200
    assert hooked == ["msg-000001", "id-1"]
    source = SegmentSource(settings, make_context(tmp_path))
    assert [s.name for s in source.streams()] == ["live", "live_profiles"]
    store = EventStore()
    assert store.pull(source, source.streams()[0]) == (2, 2)
    assert store.pull(source, source.streams()[1]) == (1, 1)
    assert store.profiles["u1"].email == "ann@shop.example"
    assert store.pull(source, source.streams()[0])[1] == 0  # rerun: nothing new
    source.close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


_SERVER = """
import sys
from pathlib import Path
from pydantic import SecretStr
from cdp_segment.settings import SegmentSettings
from cdp_segment.webhook import serve
settings = SegmentSettings(webhook_secret=SecretStr(sys.argv[1]))
serve(settings, Path(sys.argv[2]), "127.0.0.1", int(sys.argv[3]),
      ready=lambda url: print("ready", url, flush=True))
"""


def _start(workspace: Path, port: int) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": f"{REPO}{os.pathsep}{REPO / 'plugins'}"}
    proc = subprocess.Popen(
        [sys.executable, "-c", _SERVER, SECRET.decode(), str(workspace), str(port)],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().startswith("ready")
    return proc


def _stop(proc: subprocess.Popen[str], *, kill: bool) -> None:
    proc.kill() if kill else proc.terminate()
    proc.wait()
    if proc.stdout is not None:
        proc.stdout.close()


def _crash_run(tmp_path: Path, total: int, clients: int) -> None:
    port = _free_port()
    url = f"http://127.0.0.1:{port}/segment"
    proc = _start(tmp_path, port)
    acked: set[str] = set()
    lock = threading.Lock()
    errors: list[str] = []

    def client(worker: int) -> None:
        with httpx.Client(timeout=10) as http:
            for i in range(worker, total, clients):
                msg = _event(i)
                deadline = time.monotonic() + 120
                while time.monotonic() < deadline:  # retry like Segment until a 2xx
                    try:
                        resp = _post(http, url, msg)
                    except httpx.TransportError:
                        time.sleep(0.05)
                        continue
                    if resp.status_code == 200:
                        with lock:
                            acked.add(msg["messageId"])
                        if i % 50 == 0:  # a lost answer: Segment sends it again
                            with contextlib.suppress(httpx.TransportError):
                                _post(http, url, msg)  # the server may be down right now
                        break
                    time.sleep(0.05)
                else:
                    errors.append(msg["messageId"])

    threads = [threading.Thread(target=client, args=(w,)) for w in range(clients)]
    for t in threads:
        t.start()
    while len(acked) < total // 2:
        time.sleep(0.01)
    _stop(proc, kill=True)  # SIGKILL mid-load: no shutdown hook runs
    acked_before_crash = set(acked)
    proc = _start(tmp_path, port)
    try:
        for t in threads:
            t.join()
    finally:
        _stop(proc, kill=False)
    assert errors == []
    spool = Spool(tmp_path / "segment" / "webhook-spool.sqlite")
    stored = spool.message_ids()
    spool.close()
    assert len(stored) == len(set(stored)) == total  # each exactly once
    assert acked_before_crash <= set(stored)  # nothing acknowledged was lost in the crash
    assert acked == set(stored)


def test_concurrent_load_with_crash_keeps_every_acked_event_once(tmp_path: Path) -> None:
    _crash_run(tmp_path, total=1_000, clients=8)


@pytest.mark.slow
def test_20k_events_from_concurrent_clients_with_crash(tmp_path: Path) -> None:
    _crash_run(tmp_path, total=20_000, clients=16)
