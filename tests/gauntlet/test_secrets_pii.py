"""No token, no raw email and no phone number in any log line, error, run record or CLI output.

The scenario runs the whole pipeline with distinctive tokens, through the error paths too (a
5xx burst, a 429 storm, a token that expires mid-run, records the platform rejects), then scans
everything a user or a log collector sees: the JSON log lines on stderr, stdout, ``connector
runs``, ``runs show``, ``plan`` and ``check``, the run records and per-record errors in the
state store, and every file in the workspace except the data store (which holds profiles by
design). The state and data files must be readable by their owner only.
"""

from __future__ import annotations

import json
import re
import sqlite3
import stat
from pathlib import Path

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


def test_no_secret_email_or_phone_leaks_anywhere(tmp_path: Path) -> None:
    with h.platforms(40) as p:
        cfg = h.write_config(tmp_path, p, retry_seconds=5)
        p.faults("hubspot", [{"path": "*/batch/upsert", "status": 503, "count": 3}])
        p.faults("klaviyo", [{"path": "/api/lists/*", "status": 429, "count": 3}])
        # Meta's token expires: its own error text, the SDK's and ours must all stay clean
        p.faults("meta", [{"path": "*", "status": 401, "rate": 1.0}])
        outputs = {"run 1": h.run_cli(cfg, p)}
        p.clear_faults()
        outputs["run 2"] = h.run_cli(cfg, p)
        outputs["runs"] = h.run_cli(cfg, p, "runs")
        run_ids = re.findall(r"r\d{8}T\d{6}-[0-9a-f]{6}", outputs["runs"].stdout)
        assert run_ids, outputs["runs"].stdout
        for rid in set(run_ids):
            outputs[f"runs show {rid}"] = h.run_cli(cfg, p, "runs", "show", rid, "--limit", "0")
        outputs["plan"] = h.run_cli(cfg, p, "plan")
        emails, phones = _contacts(p)
    assert len(emails) > 50, "the scenario carries emails"
    assert len(phones) > 10, "and phone numbers"
    texts: dict[str, str] = {}
    log_lines = 0
    for name, done in outputs.items():
        texts[f"{name} stdout"] = done.stdout
        texts[f"{name} stderr"] = done.stderr
        for line in done.stderr.splitlines():
            if line.startswith("{"):
                log_lines += 1
                json.loads(line)  # every log line is well-formed JSON
    assert log_lines > 0, "the runs logged in JSON"
    assert "destination meta" in outputs["run 1"].stdout + outputs["run 1"].stderr
    texts.update(_workspace_texts(tmp_path))
    leaks = {
        name: found
        for name, text in texts.items()
        if (found := _leaks(text, set(h.TOKENS), emails, phones))
    }
    figures.record(
        "pii",
        "scan",
        {
            "log_lines": log_lines,
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
