"""Bad arguments end in one line that says what to do, never a traceback."""

from __future__ import annotations

import socket
from pathlib import Path

from tests.conftest import write_config
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


def test_a_negative_seed_count_is_refused() -> None:
    result = CliRunner().invoke(app, ["emulate", "hubspot", "--seed-profiles", "-5"])
    assert result.exit_code == 2, result.output
    assert "--seed-profiles" in result.output


def test_state_show_names_an_unknown_source(tmp_path: Path) -> None:
    cfg = write_config(tmp_path)
    result = CliRunner().invoke(app, ["state", "show", "nope", "--config", str(cfg)])
    assert result.exit_code == 2, result.output
    assert "no source named 'nope' (known: shop)" in result.output
