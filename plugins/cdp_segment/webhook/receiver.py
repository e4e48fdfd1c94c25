"""The live source's front door: a receiver for Segment's (classic) Webhooks destination.

Segment POSTs one event per request with ``Content-Type: application/json`` and, when a
shared secret is set, ``X-Signature: hex(HMAC-SHA1(secret, raw body))`` (segment-docs
``src/connections/destinations/catalog/webhooks``). It retries 5xx answers for up to 4 hours.

Contract of this receiver:
- a missing or wrong signature gets 401 and nothing is stored;
- a signed event is committed to the spool (fsync'ed, unique by messageId) before the 200;
- 5xx only when the spool could not store it, so Segment's retry delivers it again;
- a retry of a stored event (or batch) answers 200 again and stores nothing new.
The ``live`` stream of the Segment source reads the spool on the next run.

Framing, timeouts and the connection cap are ``webhook_http``'s: they are enforced before any
body is read, since nothing is authenticated until then.

``on_event`` is the rescoring hook: it is called with each newly stored message after the 200
went out (never for duplicates); a failing hook is logged and never loses the event.
"""

from __future__ import annotations

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
from cdp_segment.webhook.delivery import DeliveryError, parse_delivery, sign, signature_error
from cdp_segment.webhook.framing import (
    MAX_BODY,
    BoundedHTTPServer,
    FramingError,
    WebhookLimits,
    body_length,
    linger,
)
from cdp_segment.webhook.spool import GroupWriter, Spool, SpoolError
from connector.sdk import ConfigError

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


def spool_path(settings: SegmentSettings, workspace: Path) -> Path:
    path = Path(settings.webhook_spool)
    return path if path.is_absolute() else workspace / path


def limits_from(settings: SegmentSettings) -> WebhookLimits:
    return WebhookLimits(
        timeout=settings.webhook_timeout_seconds,
        max_connections=settings.webhook_max_connections,
        request_seconds=settings.webhook_request_seconds,
        max_body=settings.webhook_max_body_bytes,
        max_batch=settings.webhook_max_batch,
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
        self, body: bytes, signature: str | None, segment_signature: str | None = None
    ) -> tuple[int, dict[str, Any], list[dict[str, Any]] | None]:
        """(status, answer, newly stored messages or None) for one delivery."""
        refused = signature_error(self.secret, body, signature, segment_signature)
        if refused is not None:
            return 401, {"error": refused}, None
        try:
            delivery = parse_delivery(body, max_batch=self.limits.max_batch)
        except DeliveryError as exc:
            return exc.status, {"error": exc.message}, None
        try:
            inserted = self.writer.submit_many([(mid, line) for mid, line, _ in delivery.messages])
        except SpoolError as exc:
            _log.error(
                "segment webhook: could not store %d message(s): %s", len(delivery.messages), exc
            )
            return 503, {"error": "could not store the event, retry later"}, None
        new = [msg for (_, _, msg), fresh in zip(delivery.messages, inserted, strict=True) if fresh]
        if not delivery.batched:
            return 200, {"stored": inserted[0], "messageId": delivery.messages[0][0]}, new
        if delivery.rejected:
            _log.warning(
                "segment webhook: %d entr(ies) of a batch of %d were not Segment messages",
                len(delivery.rejected),
                len(delivery.messages) + len(delivery.rejected),
            )
        answer = {
            "received": len(delivery.messages) + len(delivery.rejected),
            "stored": len(new),
            "duplicates": len(delivery.messages) - len(new),
            "rejected": delivery.rejected,
        }
        return 200, answer, new


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
            status, payload, stored = receiver.receive(
                body, self.headers.get("X-Signature"), self.headers.get("X-Segment-Signature")
            )
            self._answer(status, payload)
            hook = receiver.on_event
            for message in stored or ():
                if hook is None:
                    break
                try:
                    hook(message)
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
