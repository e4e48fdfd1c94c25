"""The Segment webhook's HTTP framing and slow clients, driven over raw sockets to 127.0.0.1.

Nothing is authenticated before the body is read, so the receiver must decide how much to read
and how long to wait from the headers alone: a request whose framing it will not honour gets its
4xx before any body is read, a silent client is dropped after the configured timeout, and slow
clients beyond the connection cap are turned away (503) instead of each holding a thread.
Assertions are on behaviour (status lines, closed sockets, thread counts, a valid request still
served), never on absolute timings; socket timeouts here only keep a broken server from hanging
the test.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import httpx
import pytest
from tests.gauntlet import figures

from cdp_segment.webhook import MAX_BODY, WebhookLimits, WebhookReceiver, sign

SECRET = b"whsec-gauntlet-framing"
GUARD = 20.0  # seconds a test socket waits before declaring the server hung


@contextmanager
def receiver(tmp_path: Path, **limits: float) -> Iterator[WebhookReceiver]:
    settings = WebhookLimits(**{"timeout": 0.5, "max_connections": 8, **limits})  # type: ignore[arg-type]
    with WebhookReceiver(tmp_path / "spool.db", SECRET, limits=settings) as rx:
        yield rx


def _connect(rx: WebhookReceiver) -> socket.socket:
    host, port = rx.base_url.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=GUARD)
    return sock


def _status(sock: socket.socket) -> int | None:
    """The status code of the first answer on ``sock``; None if it closed without one."""
    data = b""
    try:
        while b"\r\n" not in data:
            chunk = sock.recv(4096)
            if not chunk:
                break
            data += chunk
    except ConnectionResetError:
        pass
    line = data.split(b"\r\n", 1)[0].split()
    return int(line[1]) if len(line) > 1 else None


def _closed(sock: socket.socket) -> bool:
    """True once the server closed the connection (reads until EOF or reset)."""
    try:
        while sock.recv(65536):
            pass
    except ConnectionResetError:
        pass
    return True


def _signed() -> tuple[bytes, str]:
    body = json.dumps({"type": "track", "event": "x", "userId": "u", "messageId": "m-1"}).encode()
    return body, sign(SECRET, body)


def _valid_request() -> bytes:
    body, signature = _signed()
    head = (
        "POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nX-Signature: {signature}\r\n\r\n"
    )
    return head.encode() + body


FRAMINGS = {
    "negative length": ("Content-Length: -1\r\n", 400),
    "garbage length": ("Content-Length: ten\r\n", 400),
    "exponent length": ("Content-Length: 1e3\r\n", 400),
    "signed length": ("Content-Length: +5\r\n", 400),
    "huge length": ("Content-Length: 99999999999999999999999\r\n", 413),
    "over the limit": (f"Content-Length: {MAX_BODY + 1}\r\n", 413),
    "conflicting duplicates": ("Content-Length: 5\r\nContent-Length: 6\r\n", 400),
    "conflicting list": ("Content-Length: 5, 6\r\n", 400),
    "missing length": ("", 411),
    "chunked": ("Transfer-Encoding: chunked\r\n", 411),
    "chunked and length": ("Transfer-Encoding: chunked\r\nContent-Length: 5\r\n", 400),
}


@pytest.mark.parametrize("case", sorted(FRAMINGS))
def test_unusable_framing_is_refused_before_the_body_is_read(tmp_path: Path, case: str) -> None:
    """The answer comes while the client is still sending (it never finishes the body): the
    old receiver read ``Content-Length: -1`` to the end of the stream before checking the
    signature, so it never answered here."""
    header, want = FRAMINGS[case]
    with receiver(tmp_path) as rx:
        sock = _connect(rx)
        with sock:
            sock.sendall(f"POST / HTTP/1.1\r\nHost: x\r\n{header}\r\n".encode())
            sock.sendall(b"{" * 65536)  # a body that never ends, unless the server stops it
            status = _status(sock)
            closed = _closed(sock)
        stored = rx.spool.count()
    figures.record("webhook", "framing", {"cases": 1, "unbounded_reads": int(status != want)})
    assert status == want, f"{case}: answered {status}, want {want}"
    assert closed
    assert stored == 0


def test_a_body_longer_than_declared_is_cut_at_the_declared_length(tmp_path: Path) -> None:
    """Bytes past ``Content-Length`` are never part of the signed body: the signature over the
    whole stream fails (401), the rest is not a request (400), nothing is stored."""
    body = json.dumps({"type": "track", "event": "x", "userId": "u", "messageId": "m-9"}).encode()
    extra = b"A" * (4 << 20)
    head = (
        "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n"
        f"X-Signature: {sign(SECRET, body + extra)}\r\n\r\n"
    )
    with receiver(tmp_path) as rx, _connect(rx) as sock:
        sock.sendall(head.encode() + body)
        status = _status(sock)
        _send_until_refused(sock, extra)
        closed = _closed(sock)  # the flood is no request: the server hangs up
        stored = rx.spool.count()
    assert status == 401
    assert closed
    assert stored == 0


def _send_until_refused(sock: socket.socket, data: bytes) -> None:
    try:
        sock.sendall(data)
    except OSError:
        pass  # the server closed before taking all of it, which is what it should do


def _webhook_threads() -> int:
    """Threads serving one connection each (socketserver names them after their target)."""
    return sum(1 for t in threading.enumerate() if "process_request" in t.name)


@pytest.mark.parametrize("stall", ["headers", "body"])
def test_slow_clients_are_dropped_and_cannot_take_every_thread(tmp_path: Path, stall: str) -> None:
    """Forty clients stall mid-request (slowloris): at most ``max_connections`` threads serve
    them, the rest are turned away with 503, every one is closed after the timeout, and a valid
    signed request is still served once slots free up. The old receiver had no timeout and no
    cap: forty stalled clients held forty threads forever."""
    partial = b"POST / HTTP/1.1\r\nHost: x\r\nX-Sig"
    if stall == "body":
        partial = b'POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 500\r\n\r\n{"type"'
    clients = 40
    with receiver(tmp_path, timeout=1.0, max_connections=8) as rx, ExitStack() as stack:
        before = _webhook_threads()
        socks = [stack.enter_context(_connect(rx)) for _ in range(clients)]
        for sock in socks:
            sock.sendall(partial)
        peak = _webhook_threads() - before
        closed = sum(_closed(sock) for sock in socks)
        served = _serve_valid_request(rx)
        stored = rx.spool.count()
    figures.record(
        "webhook",
        f"slow clients ({stall})",
        {"cases": 1, "clients": clients, "threads_over_cap": max(0, peak - 8)},
    )
    assert peak <= 8, f"{peak} threads for {clients} stalled clients (cap 8)"
    assert closed == clients
    assert served == 200
    assert stored == 1


def _serve_valid_request(rx: WebhookReceiver) -> int:
    """A signed delivery as Segment makes it, retried on 503 as Segment does."""
    status = 0
    for _ in range(50):
        with _connect(rx) as sock:
            sock.sendall(_valid_request())
            status = _status(sock) or 0
        if status != 503:
            break
    return status


def test_a_valid_request_is_served_while_slow_clients_hang(tmp_path: Path) -> None:
    """Below the cap, stalled clients do not delay anyone else: a signed delivery is stored
    while they still hang (their timeout is long)."""
    with receiver(tmp_path, timeout=60.0, max_connections=16) as rx, ExitStack() as stack:
        socks = [stack.enter_context(_connect(rx)) for _ in range(10)]
        for sock in socks:
            sock.sendall(b"POST / HTTP/1.1\r\nContent-Length: 900\r\n\r\n{")
        body, signature = _signed()
        answer = httpx.post(
            rx.base_url, content=body, headers={"X-Signature": signature}, timeout=GUARD
        )
        stored = rx.spool.count()
    assert answer.status_code == 200
    assert stored == 1


def test_the_limits_come_from_the_segment_settings() -> None:
    """``connector listen`` builds the receiver's limits from the source's settings."""
    from cdp_segment.settings import SegmentSettings
    from cdp_segment.webhook import limits_from

    settings = SegmentSettings(
        webhook_timeout_seconds=0.25, webhook_max_connections=3, webhook_request_seconds=5
    )
    assert limits_from(settings) == WebhookLimits(
        timeout=0.25, max_connections=3, request_seconds=5
    )
    assert limits_from(SegmentSettings()) == WebhookLimits()


@pytest.mark.parametrize("stall", ["headers", "body"])
def test_a_client_that_drips_is_cut_off_at_the_request_deadline(tmp_path: Path, stall: str) -> None:
    """Each byte arrives within the per-read timeout, so only a deadline for the whole request
    stops it; before it, a client dripping a byte every half second held its slot for as long as
    it liked. The client here would drip for up to ``GUARD`` seconds; the server must close the
    connection long before it is done (the deadline is 1 s)."""
    head = b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4000\r\nX-Filler: "
    with receiver(tmp_path, timeout=2.0, request_seconds=1.0) as rx:
        sock = _connect(rx)
        if stall == "body":
            sock.sendall(head.replace(b"X-Filler: ", b"") + b"\r\n")
        cut_off = False
        for _ in range(int(GUARD / 0.25)):
            try:
                sock.sendall(b"a")
            except OSError:
                cut_off = True
                break
            sock.settimeout(0.25)
            try:
                if sock.recv(4096) == b"":
                    cut_off = True
                    break
            except TimeoutError:
                pass
            except OSError:
                cut_off = True
                break
        sock.close()
    figures.record(
        "webhook", f"dripping client ({stall})", {"clients": 1, "held": int(not cut_off)}
    )
    assert cut_off, "the server kept a dripping client past its request deadline"
