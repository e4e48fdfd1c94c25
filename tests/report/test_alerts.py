"""Alerts reach a Slack-style webhook and an SMTP server, name the run, and carry no PII."""

from __future__ import annotations

import json
import socketserver
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest
from pydantic import SecretStr
from tests.scheduler.pipeline_helpers import make_pipeline

from connector.config import load_config
from connector.config.models import AlertSettings
from connector.pipeline import Workspace, run_pipeline
from connector.report.alerts import alert_reasons, send_alerts
from connector.state.runs import RunRow


class _Hook(BaseHTTPRequestHandler):
    received: ClassVar[list[dict[str, Any]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).received.append(json.loads(body))
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *_args: object) -> None:
        return


class _Smtp(socketserver.StreamRequestHandler):
    """Just enough SMTP for smtplib.send_message: records each DATA payload."""

    messages: ClassVar[list[str]] = []

    def _say(self, line: str) -> None:
        self.wfile.write((line + "\r\n").encode())

    def handle(self) -> None:
        self._say("220 test ESMTP")
        while line := self.rfile.readline().decode():
            verb = line[:4].upper()
            if verb in ("EHLO", "HELO"):
                self._say("250 test")
            elif verb == "DATA":
                self._say("354 go ahead")
                data = []
                while (chunk := self.rfile.readline().decode()) not in (".\r\n", ""):
                    data.append(chunk)
                type(self).messages.append("".join(data))
                self._say("250 queued")
            elif verb == "QUIT":
                self._say("221 bye")
                return
            else:
                self._say("250 ok")


@pytest.fixture
def webhook() -> Iterator[str]:
    _Hook.received = []
    server = HTTPServer(("127.0.0.1", 0), _Hook)
    t = threading.Thread(target=server.serve_forever, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hook"
    server.shutdown()
    server.server_close()


@pytest.fixture
def smtp_port() -> Iterator[int]:
    _Smtp.messages = []
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _Smtp)
    server.daemon_threads = True
    t = threading.Thread(target=server.serve_forever, daemon=True)
    t.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


def _row(status: str = "completed", **counts: int) -> RunRow:
    return RunRow("r1-abc", "2024-01-01T00:00:00", None, status, False, {}, dict(counts))


def test_what_triggers_an_alert() -> None:
    s = AlertSettings(reject_rate_threshold=0.1)
    assert alert_reasons(_row(applied=95, rejected=5), s) == []
    assert "reject rate 20.0%" in alert_reasons(_row(applied=80, rejected=20), s)[0]
    assert alert_reasons(_row("failed"), s) == ["the run failed"]
    held = RunRow("r2", "t", None, "partial", False, {"model": {"hold": True}}, {})
    assert "drift" in alert_reasons(held, s)[0]
    assert alert_reasons(_row("failed"), AlertSettings(on=("reject_rate",))) == []


def test_webhook_and_email_on_a_failed_run(webhook: str, smtp_port: int) -> None:
    s = AlertSettings(
        webhook_url=SecretStr(webhook),
        email_to=("ops@example.com",),
        smtp_host="127.0.0.1",
        smtp_port=smtp_port,
    )
    sent = send_alerts(s, _row("failed", pulled=10), Path("/tmp/r1-abc.html"))  # noqa: S108
    assert sent == ["webhook", "email"]
    text = _Hook.received[0]["text"]
    assert set(_Hook.received[0]) == {"text"}  # Slack-compatible body
    assert "r1-abc" in text
    assert "connector runs show r1-abc" in text
    assert "Subject: cdp-connector run r1-abc: failed" in _Smtp.messages[0]
    assert "connector runs show r1-abc" in _Smtp.messages[0]


def test_a_broken_channel_never_fails_the_run(smtp_port: int) -> None:
    s = AlertSettings(
        webhook_url=SecretStr("http://127.0.0.1:9/nothing"),
        email_to=("a@b.co",),
        smtp_host="127.0.0.1",
        smtp_port=smtp_port,
    )
    assert send_alerts(s, _row("failed")) == ["email"]


def test_a_run_with_many_rejects_alerts_without_pii(tmp_path: Path, webhook: str) -> None:
    cfg = make_pipeline(
        tmp_path,
        people=40,
        extra='[alerts]\nwebhook_url = { env = "ALERT_HOOK" }\nreject_rate_threshold = 0.0\n',
    )
    # a clean run sends nothing; the same run marked failed alerts, naming only the run
    config = load_config(cfg, env={"ALERT_HOOK": webhook})
    ws = Workspace(config)
    try:
        summary = run_pipeline(ws)
    finally:
        ws.close()
    assert summary.status == "completed"
    assert _Hook.received == []  # nothing wrong, nothing sent
    ws = Workspace(config)
    try:
        row = ws.runs.get(summary.run_id)
        assert row is not None
        failed = RunRow(
            row.run_id, row.started_at, row.ended_at, "failed", False, row.stages, row.counts
        )
        assert send_alerts(config.alerts, failed, summary.report) == ["webhook"]
    finally:
        ws.close()
    text = _Hook.received[0]["text"]
    assert summary.run_id in text
    assert "@" not in text
    assert "example.org" not in text


def test_webhook_url_is_a_secret(tmp_path: Path) -> None:
    from connector.errors import ConfigError

    cfg = make_pipeline(
        tmp_path, people=1, extra='[alerts]\nwebhook_url = "https://hooks.example/x"\n'
    )
    with pytest.raises(ConfigError, match="secrets must not be written in the config file"):
        load_config(cfg, env={})
