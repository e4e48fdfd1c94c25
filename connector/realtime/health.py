"""The stream's health endpoint: ``GET /healthz`` answers 200 while the loop turns, else 503.

Bound to 127.0.0.1 by default; it serves counts only (no profile, no identifier), so a process
supervisor or a Kubernetes liveness probe can watch the stream.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from connector.realtime.metrics import StreamMetrics

__all__ = ["HealthServer"]


class HealthServer:
    def __init__(
        self, metrics: StreamMetrics, host: str, port: int, *, stalled_after: float = 60.0
    ) -> None:
        handler = _handler(metrics, stalled_after)
        self._httpd = ThreadingHTTPServer((host, port), handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True
        )

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}/healthz"

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)


def _handler(metrics: StreamMetrics, stalled_after: float) -> type[BaseHTTPRequestHandler]:
    class _Health(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            return

        def do_GET(self) -> None:
            if self.path.split("?")[0] != "/healthz":
                self.send_response(404)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            ok, body = metrics.health(stalled_after)
            data = json.dumps(body).encode()
            self.send_response(200 if ok else 503)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    return _Health
