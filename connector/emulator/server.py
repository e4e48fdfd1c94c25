"""A small threaded HTTP server that platform emulators subclass.

It owns what every emulator shares: routing with ``{param}`` path segments (trailing slash
tolerant, since SDKs disagree with the specs about it), the admin endpoints under
``/__emulator__/``, the request log, fault injection and rate limits. A subclass registers its
platform routes (handler methods, listed in one table), formats its platform's error bodies and
serves its state as JSON. A handler answers an error by raising ``ErrorAnswer``.

Order per request: admin endpoints (never faulted, limited or authenticated) → route lookup →
injected fault → authentication → rate limit → handler, run under one lock so handlers can mutate
plain dicts safely.
"""

from __future__ import annotations

import json
import re
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, ClassVar, Self
from urllib.parse import parse_qs, urlsplit

from connector.emulator.faults import FaultInjector, FaultRule
from connector.emulator.ratelimit import RateLimit, RateLimiter
from connector.emulator.recorder import RequestRecorder
from connector.plugin.spec import EmulatorOptions

__all__ = ["EmulatorServer", "ErrorAnswer", "Request", "Response", "Route"]

ADMIN_PREFIX = "/__emulator__"
# What a hotel or corporate captive portal answers in place of the API: 200 and a sign-in page.
_PORTAL_PAGE = (
    b"<!DOCTYPE html><html><head><title>Sign in to the network</title></head><body>"
    b"<form method=post action=/login><input name=user><button>Connect</button></form>"
    b"</body></html>"
)


class BadRequestError(Exception):
    """Raised by ``Request.json`` for an unparseable body; the server answers 400."""


class ErrorAnswer(Exception):
    """Raised by a handler (or a helper deep inside one) to answer with the platform's error
    body: the server turns it into ``error_response(status, message, **extra)``."""

    def __init__(self, status: int, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.extra = extra


@dataclass(slots=True)
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: Mapping[str, str]
    body: bytes
    params: dict[str, str] = field(default_factory=dict)

    def json(self) -> Any:
        if not self.body:
            return None
        try:
            return json.loads(self.body)
        except ValueError as exc:
            raise BadRequestError(f"invalid JSON body: {exc}") from exc

    def arg(self, name: str, default: str | None = None) -> str | None:
        values = self.query.get(name)
        return values[0] if values else default

    def args(self, name: str) -> list[str]:
        return self.query.get(name, [])

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())


@dataclass(slots=True)
class Response:
    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = "application/json"

    def encode(self) -> bytes:
        if self.body is None:
            return b""
        if isinstance(self.body, bytes):
            return self.body
        if isinstance(self.body, str):
            return self.body.encode()
        return json.dumps(self.body, separators=(",", ":")).encode()


Handler = Callable[[Request], Response]


@dataclass(frozen=True, slots=True)
class Route:
    method: str
    pattern: re.Pattern[str]
    template: str
    handler: Handler


def _compile(template: str) -> re.Pattern[str]:
    parts = re.split(r"(\{[a-zA-Z_][a-zA-Z0-9_]*\})", template.rstrip("/"))
    regex = "".join(f"(?P<{p[1:-1]}>[^/]+)" if p.startswith("{") else re.escape(p) for p in parts)
    return re.compile(f"^{regex}/?$")


class _QuietServer(ThreadingHTTPServer):
    """A client that hangs up mid-request (a retry timing out, a pool closing) is routine for
    a platform: not worth the traceback ``socketserver`` prints for it on the terminal."""

    def handle_error(self, request: Any, client_address: Any) -> None:
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)


class EmulatorServer:
    """Base class: subclasses set ``platform`` and override the hooks below."""

    platform: ClassVar[str] = "emulator"

    def __init__(self, options: EmulatorOptions | None = None) -> None:
        self.options = options or EmulatorOptions()
        self.lock = threading.RLock()
        self.faults = FaultInjector(seed=self.options.seed)
        self.recorder = RequestRecorder()
        self.limiter = RateLimiter(self.rate_limits())
        self.limiter.enabled = self.options.limits == "real"
        self._routes: list[Route] = []
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.register_routes()

    # ---- hooks for subclasses -------------------------------------------------------------
    def register_routes(self) -> None:
        """Register platform routes with ``self.route``."""

    def rate_limits(self) -> list[RateLimit]:
        return []

    def authenticate(self, request: Request) -> Response | None:
        """Return an error response when the request's credentials are refused."""
        return None

    def error_response(self, status: int, message: str, **extra: Any) -> Response:
        """The platform's error body for ``status``; subclasses override the shape."""
        return Response(status, {"error": message, **extra})

    def rate_limited_response(self, limit: RateLimit, retry_after: float) -> Response:
        seconds = RateLimiter.whole_seconds(retry_after)
        resp = self.error_response(429, f"rate limit {limit.name} exceeded")
        resp.headers["Retry-After"] = str(seconds)
        return resp

    def snapshot(self) -> dict[str, Any]:
        """Everything stored, as JSON (``GET /__emulator__/state``)."""
        return {}

    def seed(self, payload: dict[str, Any]) -> dict[str, Any]:
        """Load data (``POST /__emulator__/seed``); returns counts."""
        return {}

    def reset(self) -> None:
        """Forget all state (``POST /__emulator__/reset``)."""

    # ---- routing --------------------------------------------------------------------------
    def route(self, method: str, template: str, handler: Handler) -> None:
        self._routes.append(Route(method.upper(), _compile(template), template, handler))

    def routes(self, table: Iterable[tuple[str, str, Handler]]) -> None:
        """Register a route table: ``(method, path template, handler)`` rows, matched in order."""
        for method, template, handler in table:
            self.route(method, template, handler)

    def _match(self, method: str, path: str) -> tuple[Route | None, dict[str, str], bool]:
        path_known = False
        for r in self._routes:
            m = r.pattern.match(path)
            if m is None:
                continue
            path_known = True
            if r.method == method:
                return r, m.groupdict(), True
        return None, {}, path_known

    # ---- request dispatch -----------------------------------------------------------------
    def dispatch(self, request: Request) -> tuple[Response, FaultRule | None]:
        if request.path.startswith(ADMIN_PREFIX):
            return self._admin(request), None
        route, params, known = self._match(request.method, request.path)
        if route is None:
            status = 405 if known else 404
            return self.error_response(
                status, f"no route for {request.method} {request.path}"
            ), None
        rule = self.faults.pick(request.method, request.path)
        if rule is not None and rule.kind in ("status", "html", "portal"):
            return self._fault_response(rule), rule
        denied = self.authenticate(request)
        if denied is not None:
            return denied, rule
        over = self.limiter.check(request.method, request.path)
        if over is not None:
            return self.rate_limited_response(*over), rule
        request.params = params
        try:
            with self.lock:
                return route.handler(request), rule
        except BadRequestError as exc:
            return self.error_response(400, str(exc)), rule
        except ErrorAnswer as exc:
            return self.error_response(exc.status, exc.message, **exc.extra), rule

    def _fault_response(self, rule: FaultRule) -> Response:
        if rule.kind == "portal":
            status = rule.status if 200 <= rule.status < 300 else 200
            return Response(status, _PORTAL_PAGE, content_type="text/html; charset=utf-8")
        if rule.kind == "html":
            body = b"<html><body><h1>502 Bad Gateway</h1></body></html>"
            return Response(rule.status, body, content_type="text/html")
        if rule.body is not None:
            resp = Response(rule.status, rule.body)
        elif rule.status == 429:
            resp = self.error_response(429, "injected rate limit")
        else:
            resp = self.error_response(rule.status, f"injected fault {rule.status}")
        if rule.retry_after is not None:
            resp.headers["Retry-After"] = str(RateLimiter.whole_seconds(rule.retry_after))
        elif rule.status == 429:
            resp.headers.pop("Retry-After", None)
        return resp

    def _admin(self, request: Request) -> Response:
        name = request.path[len(ADMIN_PREFIX) :].strip("/")
        if request.method == "GET" and name == "state":
            with self.lock:
                return Response(200, self.snapshot())
        if request.method == "GET" and name == "requests":
            with_body = request.arg("body", "0") in ("1", "true")
            entries = [e.to_json(with_body=with_body) for e in self.recorder.entries()]
            return Response(200, {"requests": entries})
        if request.method == "GET" and name == "faults":
            return Response(200, {"rules": [r.to_json() for r in self.faults.rules()]})
        if request.method == "POST" and name == "faults":
            payload = request.json() or {}
            try:
                rules = [FaultRule.from_json(r) for r in payload.get("rules", [])]
            except (TypeError, ValueError) as exc:
                return Response(400, {"error": str(exc)})
            self.faults.set_rules(rules)
            return Response(200, {"rules": len(rules)})
        if request.method == "POST" and name == "seed":
            with self.lock:
                return Response(200, self.seed(request.json() or {}))
        if request.method == "POST" and name == "reset":
            with self.lock:
                self.reset()
            self.recorder.clear()
            self.faults.set_rules([])
            return Response(200, {"reset": True})
        if request.method == "POST" and name == "limits":
            payload = request.json() or {}
            self.limiter.enabled = payload.get("limits", "real") == "real"
            return Response(200, {"limits": "real" if self.limiter.enabled else "off"})
        return Response(404, {"error": f"unknown admin endpoint {name!r}"})

    # ---- lifecycle ------------------------------------------------------------------------
    @property
    def base_url(self) -> str:
        if self._httpd is None:
            raise RuntimeError(f"{self.platform} emulator is not running")
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> None:
        if self._httpd is not None:
            return
        httpd = _QuietServer(("127.0.0.1", self.options.port), _make_handler(self))
        httpd.daemon_threads = True
        self._httpd = httpd
        self._thread = threading.Thread(
            target=httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"{self.platform}-emulator",
            daemon=True,
        )
        self._thread.start()

    def stop(self) -> None:
        if self._httpd is None:
            return
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._httpd = None
        self._thread = None

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


def _make_handler(server: EmulatorServer) -> type[BaseHTTPRequestHandler]:
    class _Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # headers and body go out in two writes: without this, Nagle's algorithm and delayed
        # ACKs add ~40 ms to every keep-alive request
        disable_nagle_algorithm = True

        def log_message(self, format: str, *args: Any) -> None:
            return

        def _handle(self) -> None:
            started = time.time()
            split = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            headers = {k.lower(): v for k, v in self.headers.items()}
            request = Request(
                self.command,
                split.path,
                parse_qs(split.query, keep_blank_values=True),
                headers,
                body,
            )
            response, rule = server.dispatch(request)
            if rule is not None and rule.kind in ("timeout", "slow") and rule.delay:
                time.sleep(rule.delay)
            if rule is not None and rule.kind == "reset":
                server.recorder.add(self.command, split.path, request.query, 0, started, body)
                self.close_connection = True
                try:
                    self.connection.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                return
            payload = response.encode()
            if rule is not None and rule.kind == "garbled":
                payload = payload[: len(payload) // 2]  # framed as sent: a complete, broken body
            truncated = rule is not None and rule.kind == "truncate"
            if not split.path.startswith(ADMIN_PREFIX):
                # logged before the answer leaves, so a client that reads the log right after
                # its call always finds that call in it
                server.recorder.add(
                    self.command, split.path, request.query, response.status, started, body
                )
            self.send_response(response.status)
            if payload:
                self.send_header("Content-Type", response.content_type)
            for key, value in response.headers.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(payload)))
            if truncated:
                self.send_header("Connection", "close")
                self.close_connection = True
            self.end_headers()
            self.wfile.write(payload[: len(payload) // 2] if truncated else payload)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle

    return _Handler
