"""The live source's front door: a receiver for Segment's (classic) Webhooks destination.

Segment POSTs one event per request with ``Content-Type: application/json`` and, when a
shared secret is set, ``X-Signature: hex(HMAC-SHA1(secret, raw body))`` (segment-docs
``src/connections/destinations/catalog/webhooks``). It retries 5xx answers for up to 4 hours.

Contract of this receiver:
- a missing or wrong signature gets 401 and nothing is stored;
- a signed event is committed to the spool (fsync'ed, unique by messageId) before the 200;
- 5xx only when the spool could not store it, so Segment's retry delivers it again;
- a retry of a stored event answers 200 again and stores nothing new.
The ``live`` stream of the Segment source reads the spool on the next run.

Framing, timeouts and the connection cap are ``webhook_http``'s: they are enforced before any
body is read, since nothing is authenticated until then.

``on_event`` is the rescoring hook: it is called with each newly stored message after the 200
went out (never for duplicates); a failing hook is logged and never loses the event.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import socket
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from cdp_segment.settings import SegmentSettings
from cdp_segment.webhook.framing import (
    MAX_BODY,
    BoundedHTTPServer,
    FramingError,
    WebhookLimits,
    body_length,
    linger,
)
from cdp_segment.webhook.spool import GroupWriter, Spool, SpoolError
from connector.sdk import ConfigError, message_id

__all__ = [
    "MAX_BODY",
    "WebhookLimits",
    "WebhookReceiver",
    "limits_from",
    "serve",
    "sign",
    "spool_path",
]

_log = logging.getLogger("cdp_segment.webhook")
EventHook = Callable[[dict[str, Any]], None]


def sign(secret: bytes, body: bytes) -> str:
    """The ``X-Signature`` Segment sends: hex HMAC-SHA1 of the raw body."""
    return hmac.new(secret, body, hashlib.sha1).hexdigest()


def spool_path(settings: SegmentSettings, workspace: Path) -> Path:
    path = Path(settings.webhook_spool)
    return path if path.is_absolute() else workspace / path


def limits_from(settings: SegmentSettings) -> WebhookLimits:
    return WebhookLimits(
        timeout=settings.webhook_timeout_seconds,
        max_connections=settings.webhook_max_connections,
        request_seconds=settings.webhook_request_seconds,
    )


class WebhookReceiver:
    """A threaded HTTP server in front of a group-committing spool writer."""

    def __init__(
        self,
        spool_file: Path,
        secret: bytes,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        on_event: EventHook | None = None,
        limits: WebhookLimits | None = None,
    ) -> None:
        if not secret:
            raise ConfigError("webhook_secret is required: unsigned webhooks are refused")
        self.spool = Spool(spool_file)
        self.writer = GroupWriter(self.spool)
        self.secret = secret
        self.on_event = on_event
        self.limits = limits or WebhookLimits()
        self._httpd = BoundedHTTPServer((host, port), _handler(self), self.limits)
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    def serve_forever(self) -> None:
        self._httpd.serve_forever(poll_interval=0.1)

    def start(self) -> None:
        self._thread = threading.Thread(
            target=self.serve_forever, name="segment-webhook", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self.writer.close()
        self.spool.close()

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def receive(
        self, body: bytes, signature: str | None
    ) -> tuple[int, dict[str, Any], dict[str, Any] | None]:
        """(status, answer, newly stored message or None) for one delivery."""
        expected = sign(self.secret, body)
        if not signature or not hmac.compare_digest(signature.strip().lower(), expected):
            return 401, {"error": "invalid or missing X-Signature"}, None
        try:
            msg = json.loads(body)
        except ValueError:
            return 400, {"error": "body is not JSON"}, None
        if not isinstance(msg, dict) or not isinstance(msg.get("type"), str):
            return 400, {"error": "body is not a Segment message"}, None
        mid = message_id(msg, body)
        try:
            inserted = self.writer.submit(mid, body.decode("utf-8", "replace"))
        except SpoolError as exc:
            _log.error("segment webhook: could not store message %s: %s", mid, exc)
            return 503, {"error": "could not store the event, retry later"}, None
        return 200, {"stored": inserted, "messageId": mid}, (msg if inserted else None)


def _handler(receiver: WebhookReceiver) -> type[BaseHTTPRequestHandler]:
    class _Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        timeout = receiver.limits.timeout  # every socket read; a silent client is dropped

        def log_message(self, format: str, *args: Any) -> None:
            return

        def handle_one_request(self) -> None:
            # the socket timeout bounds each read; this bounds the whole request
            cutoff = threading.Timer(receiver.limits.request_seconds, self._cut_off)
            cutoff.daemon = True
            cutoff.start()
            try:
                super().handle_one_request()
            finally:
                cutoff.cancel()

        def _cut_off(self) -> None:
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass  # already closed

        def _answer(self, status: int, payload: dict[str, Any]) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _try_answer(self, status: int, payload: dict[str, Any]) -> None:
            try:
                self._answer(status, payload)
            except OSError:
                pass  # the client is gone; there is no one to tell

        def do_GET(self) -> None:
            self._answer(200, {"ok": True}) if self.path == "/healthz" else self._answer(404, {})

        def do_POST(self) -> None:
            try:
                length = body_length(self.headers, receiver.limits.max_body)
            except FramingError as exc:
                self.close_connection = True  # the stream's framing is unknown: never reuse it
                self._answer(exc.status, {"error": exc.message})
                linger(self.connection, receiver.limits)
                return
            try:
                body = self.rfile.read(length) if length else b""
            except TimeoutError:
                body = b""
            if len(body) < length:
                self.close_connection = True  # the client stalled or hung up mid-body
                self._try_answer(408, {"error": "request body incomplete"})
                return
            status, payload, stored = receiver.receive(body, self.headers.get("X-Signature"))
            self._answer(status, payload)
            if stored is not None and receiver.on_event is not None:
                try:
                    receiver.on_event(stored)
                except Exception:  # noqa: BLE001 - the hook is user code; the event is already safe
                    _log.exception("segment webhook: on_event hook failed")

    return _Handler


def serve(
    settings: SegmentSettings,
    workspace: Path,
    host: str = "127.0.0.1",
    port: int = 8787,
    *,
    on_event: EventHook | None = None,
    ready: Callable[[str], None] | None = None,
) -> None:
    """Run the receiver in the foreground until interrupted (``connector listen segment``)."""
    if settings.webhook_secret is None:
        raise ConfigError("segment: webhook_secret is required to listen for webhooks")
    secret = settings.webhook_secret.get_secret_value().encode()
    receiver = WebhookReceiver(
        spool_path(settings, workspace),
        secret,
        host=host,
        port=port,
        on_event=on_event,
        limits=limits_from(settings),
    )
    if ready is not None:
        ready(receiver.base_url)
    try:
        receiver.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        receiver.writer.close()
        receiver.spool.close()
