"""Bad arguments end in one line that says what to do, never a traceback."""

from __future__ import annotations

import socket

from typer.testing import CliRunner

from connector.cli.app import app


def test_emulate_on_a_port_in_use_says_so() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = CliRunner().invoke(app, ["emulate", "hubspot", "--port", str(port)])
    assert result.exit_code == 2, result.output
    assert f"port {port} is already in use" in result.output
    assert "Traceback" not in result.output
