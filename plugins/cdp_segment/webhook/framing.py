"""HTTP framing and connection limits for the webhook receiver, checked before any body is read.

The receiver faces the internet, and signatures are only checked once a body is in memory, so
everything that decides how much we read or how long we wait happens here, unauthenticated:
- the body must be framed by exactly one decimal ``Content-Length`` no larger than the limit
  (RFC 9112 §6.3: identical repeats are allowed, differing ones are an error); a request without
  one gets 411, a malformed or conflicting one 400, a too large one 413, always before a byte of
  body is read, and the connection is closed because its stream can no longer be trusted;
- ``Transfer-Encoding`` is refused (411 when alone, 400 together with ``Content-Length``, the
  request-smuggling shape of RFC 9112 §6.1): Segment always sends a ``Content-Length``;
- every socket read waits at most ``timeout`` seconds, so a client that stops sending (half-sent
  headers or body) is dropped instead of holding its thread;
- a whole request must arrive within ``request_seconds``, so a client that drips a byte at a
  time (each read within ``timeout``) is cut off too;
- at most ``max_connections`` connections are served at once; the next one is answered 503 with
  ``Retry-After`` and closed, which Segment retries, so slow clients cannot exhaust threads.
"""

from __future__ import annotations

import re
import socket
import threading
import time
from dataclasses import dataclass
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = [
    "MAX_BODY",
    "BoundedHTTPServer",
    "FramingError",
    "WebhookLimits",
    "body_length",
    "linger",
]

# Segment messages are ≤32 KB; a Webhooks (Actions) batch holds 1,000 of them by default
# (4,000 at most), typically 1-4 KB each: 4 MiB takes a default batch, and a larger body is
# refused before it is read (raise webhook_max_body_bytes for larger batches)
MAX_BODY = 4 << 20
_DIGITS = re.compile(r"[0-9]+")
_LINGER_SECONDS = 2.0
_BUSY = (
    b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
    b"Retry-After: 1\r\nConnection: close\r\nContent-Length: 27\r\n\r\n"
    b'{"error": "too many conns"}'
)


@dataclass(frozen=True, slots=True)
class WebhookLimits:
    """How much one request may send, how long a silent client is waited for, how many at once."""

    max_body: int = MAX_BODY
    max_batch: int = 4000  # messages per Webhooks (Actions) batch (delivery.MAX_BATCH)
    timeout: float = 10.0
    max_connections: int = 64
    # a whole request (headers and body) must arrive within this, however steadily it drips:
    # a per-read timeout alone lets a client sending a byte every few seconds hold a slot
    request_seconds: float = 30.0


class FramingError(Exception):
    """The request's body framing is unusable; ``status`` is the answer to give."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def body_length(headers: Message, max_body: int) -> int:
    """The declared body length, or ``FramingError`` for anything we will not read."""
    lengths = headers.get_all("Content-Length") or []
    encodings = headers.get_all("Transfer-Encoding") or []
    if encodings and lengths:
        raise FramingError(400, "Transfer-Encoding together with Content-Length is refused")
    if encodings:
        raise FramingError(411, "Transfer-Encoding is not accepted: send a Content-Length")
    if not lengths:
        raise FramingError(411, "Content-Length is required")
    values = {part.strip() for value in lengths for part in str(value).split(",")}
    if len(values) != 1:
        raise FramingError(400, "conflicting Content-Length values")
    (value,) = values
    if not _DIGITS.fullmatch(value):
        raise FramingError(400, "Content-Length must be a non-negative decimal number")
    if len(value) > 12 or int(value) > max_body:
        raise FramingError(413, f"body too large (limit {max_body} bytes)")
    return int(value)


class BoundedHTTPServer(ThreadingHTTPServer):
    """A threading server that serves at most ``limits.max_connections`` connections at once."""

    daemon_threads = True
    request_queue_size = 128  # listen backlog: socketserver's 5 makes bursts wait on SYN retries

    def __init__(
        self,
        address: tuple[str, int],
        handler: type[BaseHTTPRequestHandler],
        limits: WebhookLimits,
    ) -> None:
        self.limits = limits
        self._slots = threading.BoundedSemaphore(limits.max_connections)
        super().__init__(address, handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self._slots.acquire(blocking=False):
            _refuse_busy(request)
            self.shutdown_request(request)
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self._slots.release()  # the thread never started, so it cannot release its slot
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()


def _refuse_busy(request: socket.socket) -> None:
    """Answer 503 on a connection we will not serve; never wait on the client to do it."""
    try:
        request.settimeout(0)
        request.sendall(_BUSY)
    except OSError:
        pass


def linger(conn: socket.socket, limits: WebhookLimits) -> None:
    """Close after an error answer without resetting it away (a bounded lingering close).

    Closing a socket with unread input makes the kernel send a reset, which can discard our
    4xx before the client reads it. So stop sending, then read and drop what the client still
    sends, at most ``max_body`` bytes and a couple of seconds, before the handler closes.
    """
    deadline = time.monotonic() + min(limits.timeout, _LINGER_SECONDS)
    drained = 0
    try:
        conn.shutdown(socket.SHUT_WR)
        while drained < limits.max_body:
            left = deadline - time.monotonic()
            if left <= 0:
                return
            conn.settimeout(left)
            chunk = conn.recv(65536)
            if not chunk:
                return
            drained += len(chunk)
    except OSError:
        return
