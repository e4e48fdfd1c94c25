"""No token, no raw email and no phone number in any log line, error, run record or CLI output.

The scenario runs the whole pipeline with distinctive tokens, through the error paths too (a
5xx burst, a 429 storm, a token that expires mid-run, records the platform rejects, and a
platform error that echoes the token whole, base64-encoded and in part, with non-ASCII, IDN and
punycode addresses and a phone), then scans everything a user or a log collector sees: stdout
and stderr of runs in text and JSON log formats and of ``runs``, ``runs show``, ``segments``,
``models show``, ``report``, ``profiles explain`` (masked), ``plan``, ``check`` and ``plugins``;
the run records, stage records and per-record errors in the state store; the HTML report and
every other file in the workspace except the data store (which holds profiles by design). The
state and data files must be readable by their owner only.
"""

from __future__ import annotations

import base64
import json
import re
import sqlite3
import stat
from pathlib import Path
from typing import Any

import duckdb
import pytest
from tests.gauntlet import figures
from tests.gauntlet import harness as h

from connector.errors import SkippableError
from connector.schema.normalise import normalise_phone


def _contacts(p: h.Platforms) -> tuple[set[str], set[str]]:
    emails: set[str] = set()
    phones: set[str] = set()
    for pr in p.state("klaviyo")["profiles"].values():
        emails.add(pr.get("email") or "")
        phones.add(pr.get("phone_number") or "")
    for c in p.state("hubspot")["contacts"].values():
        emails.add(c.get("email") or "")
        phones.update({c.get("phone") or "", c.get("mobilephone") or ""})
    forms = set()
    for raw in phones - {""}:
        forms.add(raw)
        try:
            e164 = normalise_phone(raw, "US")
        except SkippableError:
            continue
        forms.update({e164, e164.lstrip("+")})
    return {e.lower() for e in emails if e}, forms


def _leaks(text: str, secrets: set[str], emails: set[str], phones: set[str]) -> list[str]:
    low = text.lower()
    found = [f"token {s[:6]}…" for s in secrets if s in text]
    found += [f"email #{hash(e) % 1000}" for e in emails if e in low]
    found += [
        f"phone #{hash(ph) % 1000}"
        for ph in phones
        if re.search(rf"(?<!\d){re.escape(ph)}(?!\d)", text)
    ]
    return found


def _workspace_texts(root: Path) -> dict[str, str]:
    out: dict[str, str] = {}
    for f in sorted((root / ".connector").rglob("*")):
        if f.is_file() and not f.name.startswith("data.duckdb"):
            out[str(f.relative_to(root))] = f.read_bytes().decode("utf-8", "replace")
    db = sqlite3.connect(root / ".connector" / "state.db")
    try:
        for table in ("runs", "record_errors", "plugin_state", "cursors", "segments", "ledger"):
            rows = db.execute(f"SELECT * FROM {table}").fetchall()
            out[f"state.db:{table}"] = json.dumps(rows, default=str)
    finally:
        db.close()
    return out


# What a hostile platform echoes back in an error: the token whole, base64-encoded (Basic auth
# and bare), truncated and by its last characters; non-ASCII, IDN and punycode addresses; a phone.
ECHO_EMAILS = ("søren.dubois@bücher.de", "renée@xn--bcher-kva.de", "用户@例子.广告")
ECHO_PHONE = "+44 20 7946 0958"


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def _echo(token: str) -> str:
    return (
        f"Invalid token {token}; Authorization: Basic {_b64('api:' + token)}; raw {_b64(token)};"
        f" key {token[:7]}...{token[-3:]} (key ending in {token[-8:]}); contacts "
        f"{', '.join(ECHO_EMAILS)}; call {ECHO_PHONE}"
    )


def _secret_forms() -> set[str]:
    forms: set[str] = set()
    for token in h.TOKENS:
        forms |= {token, _b64(token).rstrip("="), _b64("api:" + token).rstrip("=")}
        forms |= {token[-8:], f"{token[:7]}...{token[-3:]}"}
    return forms


def _commands(cfg: Path, p: h.Platforms, tmp_path: Path) -> dict[str, Any]:
    """Every read-only command a user or a script runs after the runs, with their output."""
    out: dict[str, Any] = {"runs": h.run_cli(cfg, p, "runs")}
    run_ids = re.findall(r"r\d{8}T\d{6}-[0-9a-f]{6}", out["runs"].stdout)
    assert run_ids, out["runs"].stdout
    for rid in set(run_ids):
        out[f"runs show {rid}"] = h.run_cli(cfg, p, "runs", "show", rid, "--limit", "0")
    con = duckdb.connect(str(tmp_path / ".connector" / "data.duckdb"), read_only=True)
    try:
        pid = con.execute("SELECT min(profile_id) FROM identities WHERE kind = 'email'").fetchone()
    finally:
        con.close()
    assert pid is not None
    assert pid[0]
    for name, args in {
        "segments": ("segments",),
        "models show": ("models", "show"),
        "report": ("report", "--rebuild"),
        "profiles explain": ("profiles", "explain", pid[0]),
        "plan": ("plan",),
        "check": ("check",),
        "plugins": ("plugins",),
    }.items():
        out[name] = h.run_cli(cfg, p, *args)
    return out


def test_no_secret_email_or_phone_leaks_anywhere(tmp_path: Path) -> None:
    with h.platforms(40) as p:
        cfg = h.write_config(tmp_path, p, retry_seconds=5)
        echo = {"status": "error", "message": _echo(h.HUBSPOT_TOKEN), "category": "VALIDATION"}
        p.faults(
            "hubspot",
            [
                {"path": "*/search", "status": 400, "rate": 1.0, "body": echo},
                {"path": "*/batch/upsert", "status": 503, "count": 3},
            ],
        )
        p.faults("klaviyo", [{"path": "/api/lists/*", "status": 429, "count": 3}])
        # Meta's token expires: its own error text, the SDK's and ours must all stay clean
        p.faults("meta", [{"path": "*", "status": 401, "rate": 1.0}])
        outputs = {"run 1 (text logs)": h.run_cli(cfg, p, "run", "--log-format", "text")}
        p.clear_faults()
        p.faults("hubspot", [{"path": "*/search", "status": 400, "rate": 1.0, "body": echo}])
        outputs["run 2 (json logs)"] = h.run_cli(cfg, p)
        p.clear_faults()
        outputs["run 3"] = h.run_cli(cfg, p)
        outputs.update(_commands(cfg, p, tmp_path))
        emails, phones = _contacts(p)
    assert len(emails) > 50, "the scenario carries emails"
    assert len(phones) > 10, "and phone numbers"
    emails |= {e.lower() for e in ECHO_EMAILS}
    phones |= {ECHO_PHONE, "+442079460958", "442079460958", "2079460958"}
    texts: dict[str, str] = {}
    log_lines = 0
    for name, done in outputs.items():
        assert done.returncode in (0, 2, 3), f"{name}: exit {done.returncode}: {done.stderr}"
        texts[f"{name} stdout"] = done.stdout
        texts[f"{name} stderr"] = done.stderr
        for line in done.stderr.splitlines():
            if line.startswith("{"):
                log_lines += 1
                json.loads(line)  # every log line is well-formed JSON
    assert log_lines > 0, "the runs logged in JSON"
    run1 = outputs["run 1 (text logs)"]
    assert "destination meta" in run1.stdout + run1.stderr
    assert "source hubspot" in run1.stdout, "the platform's error text is shown, redacted"
    texts.update(_workspace_texts(tmp_path))
    leaks = {
        name: found
        for name, text in texts.items()
        if (found := _leaks(text, _secret_forms(), emails, phones))
    }
    figures.record(
        "pii",
        "scan",
        {
            "log_lines": log_lines,
            "commands": len(outputs),
            "texts": len(texts),
            "characters": sum(len(t) for t in texts.values()),
            "leaks": sum(len(v) for v in leaks.values()),
        },
    )
    assert leaks == {}, f"leaks: { {k: v[:3] for k, v in leaks.items()} }"


@pytest.mark.parametrize("name", ["state.db", "data.duckdb"])
def test_state_and_data_are_readable_by_the_owner_only(tmp_path: Path, name: str) -> None:
    from tests.conftest import write_config

    from connector.config import load_config
    from connector.pipeline import Workspace, run_pipeline

    cfg = write_config(tmp_path)
    (tmp_path / "data" / "profiles" / "p.jsonl").write_text(
        json.dumps({"source_id": "1", "email": "owner-only@example.org"}) + "\n"
    )
    ws = Workspace(load_config(cfg, env={}))
    try:
        run_pipeline(ws)
    finally:
        ws.close()
    work = tmp_path / ".connector"
    assert stat.S_IMODE(work.stat().st_mode) == 0o700
    assert stat.S_IMODE((work / name).stat().st_mode) == 0o600
    for f in work.rglob("*"):
        if f.is_file() and f.stat().st_size:
            assert stat.S_IMODE(f.stat().st_mode) & 0o077 == 0, f"{f.name} is readable by others"
