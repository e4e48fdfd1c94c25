"""Markup and escape sequences in data never crash a command or reach the terminal or report.

Rich reads ``[...]`` as markup: a record id ``[/x]`` used to crash ``runs show``, a platform
message with it the end of ``connector run`` (exit 1, no report path), a segment name
``connector segments``; and Rich swallowed our own ``[email]`` marker. Terminal escapes in data
(``ESC]0;...`` retitles a terminal, ``ESC[2J`` clears it) must come out inert. A crash in
``--log-format json`` mode is one redacted JSON line, never a raw traceback.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
import typer
from tests.gauntlet import figures
from tests.gauntlet import harness as h

from connector.cli.common import handle_errors

HOSTILE = "[/x] [bold]\x1b]0;pwned\x07\x1b[2J <script>alert(1)</script>"


def _files_source(root: Path) -> str:
    (root / "data" / "profiles").mkdir(parents=True)
    rows = [
        {"source_id": f"{HOSTILE} id", "first_name": "no identifier: quarantined"},
        {"source_id": "[/y]", "email": "markup.person@example.org"},
    ]
    (root / "data" / "profiles" / "p.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return '\n[sources.shop]\nplugin = "files"\npath = "data"\n'


def _clean(name: str, text: str) -> list[str]:
    problems = [f"{name}: raw ESC" for c in ("\x1b", "\x07") if c in text]
    if "Traceback" in text or "MarkupError" in text:
        problems.append(f"{name}: traceback")
    return problems


def test_markup_and_escapes_in_data_neither_crash_nor_reach_the_terminal(tmp_path: Path) -> None:
    with h.platforms(20) as p:
        cfg = h.write_config(tmp_path, p, retry_seconds=2, extra=_files_source(tmp_path))
        message = f"bad property {HOSTILE} for markup.person@example.org"
        body = {"status": "error", "message": message, "category": "VALIDATION_ERROR"}
        p.faults("hubspot", [{"path": "*/search", "status": 400, "rate": 1.0, "body": body}])
        run = h.run_cli(cfg, p, "run", "--log-format", "text")
        p.clear_faults()
        db = sqlite3.connect(tmp_path / ".connector" / "state.db")
        try:
            run_id = db.execute("SELECT run_id FROM runs").fetchone()[0]
            db.execute("UPDATE segments SET name = ?, description = ?", (HOSTILE, HOSTILE))
            db.commit()
        finally:
            db.close()
        show = h.run_cli(cfg, p, "runs", "show", run_id, "--limit", "0")
        segments = h.run_cli(cfg, p, "segments")
        report = h.run_cli(cfg, p, "report", run_id, "--rebuild")
    assert run.returncode == 3, run.stdout + run.stderr
    assert "report: " in run.stdout
    assert "[/x]" in run.stdout, "data stays visible"
    assert "[email]" in run.stdout, "and so do our markers"
    assert show.returncode == 0, show.stdout + show.stderr
    assert "[/x]" in show.stdout
    assert "\\x1b" in show.stdout
    assert segments.returncode == 0, segments.stdout + segments.stderr
    assert "[/x]" in segments.stdout
    assert report.returncode == 0, report.stderr
    html = Path(report.stdout.strip()).read_text()
    problems = [
        *_clean("run", run.stdout + run.stderr),
        *_clean("runs show", show.stdout + show.stderr),
        *_clean("segments", segments.stdout + segments.stderr),
        *_clean("report", html),
    ]
    if "<script>alert" in html or "markup.person@example.org" in html:
        problems.append("report: unescaped or unredacted data")
    figures.record("hostile", "terminal and report", {"inputs": 4, "crashes": len(problems)})
    assert problems == []


def test_a_crash_in_json_mode_is_one_json_line(tmp_path: Path) -> None:
    with h.platforms(5) as p:
        cfg = h.write_config(tmp_path, p)
        (tmp_path / ".connector").mkdir(mode=0o700)
        (tmp_path / ".connector" / "state.db").write_bytes(b"not a database " * 100)
        done = h.run_cli(cfg, p, "run", "--log-format", "json")
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    entry = json.loads(lines[0])
    assert entry["level"] == "critical"
    assert "DatabaseError" in entry["message"]
    assert "Traceback" in entry["exc"]


@pytest.mark.parametrize("fmt", ["json", "text"])
def test_crash_output_is_redacted(fmt: str, capsys: pytest.CaptureFixture[str]) -> None:
    @handle_errors
    def command(log_format: str | None = None) -> None:
        raise RuntimeError(f"SDK said: Bearer {h.META_TOKEN} for søren.dubois@bücher.de")

    with pytest.raises(typer.Exit) as exit_info:
        command(log_format=fmt)
    assert exit_info.value.exit_code == 1
    err = capsys.readouterr().err
    assert h.META_TOKEN not in err, err
    assert "søren" not in err, err
    assert "bücher" not in err, err
    if fmt == "json":
        assert [json.loads(line)["level"] for line in err.strip().splitlines()] == ["critical"]
