"""``connector forget`` from a file of people, and the audit log it leaves.

The forget-by-email leak scan and the five-run resurrection check are in
tests/gauntlet/test_erasure.py (they give the reliability report its figures).
"""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

from tests.gauntlet import harness as h
from tests.privacy import scenario as sc

from connector.config import load_config
from connector.report import write_report
from connector.workspace import Workspace


def test_the_audit_log_exports_as_csv_without_raw_identifiers(tmp_path: Path) -> None:
    with sc.scenario(tmp_path) as (cfg, p):
        root = cfg.parent
        sc.run(cfg, p)
        people = root / "forget.txt"
        people.write_text(f"{sc.email_of(1)}\nphone:{sc.phone_of(2)}\n# a comment\n")
        assert h.run_cli(cfg, p, "forget", "--file", str(people)).returncode == 0
        run = sc.run(cfg, p)
        assert run.report is not None
        _report_shows_each_request(cfg, p, run.run_id, run.report.read_text())
        out = root / "audit.csv"
        assert h.run_cli(cfg, p, "forget", "--audit-csv", str(out)).returncode == 0
        text = out.read_text()
        assert text.splitlines()[0] == "request_id,key_hash,event,at"
        assert text.count(",completed,") == 2
        assert "destination meta cleared" in text
        for raw in (sc.email_of(1), sc.phone_of(2), sc.phone_of(2).lstrip("+")):
            assert raw not in text
        con = sqlite3.connect(root / ".connector" / "state.db")
        try:
            assert con.execute("SELECT count(*) FROM suppressions").fetchone()[0] >= 4
        finally:
            con.close()


def _rows(page: str) -> dict[str, list[str]]:
    """The report's privacy table: request id → its cells."""
    section = page.split("<h2>Privacy requests</h2>", 1)[1].split("<h2>", 1)[0]
    out = {}
    for row in re.findall(r"<tr>(.*?)</tr>", section, re.S):
        cells = [
            re.sub(r"<[^>]+>", "", c).strip() for c in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)
        ]
        if cells:
            out[cells[0]] = cells
    return out


def _report_shows_each_request(cfg: Path, p: h.Platforms, run_id: str, page: str) -> None:
    """Per request (by id, never an identifier): which destinations are cleared, which wait."""
    rows = _rows(page)
    assert len(rows) == 2
    assert all(rid.startswith("er_") for rid in rows)
    for cells in rows.values():
        assert cells[1] == "completed"
        assert cells[3].split(", ") == sorted(
            ["export", "google", "hubspot_out", "klaviyo_out", "meta", "segment_out"]
        )
        assert cells[4] == "none"
    for raw in (sc.email_of(1), sc.phone_of(2), sc.phone_of(2).lstrip("+")):
        assert raw not in page
    # a request received after the run: every destination still pending
    assert h.run_cli(cfg, p, "forget", "--email", sc.email_of(3)).returncode == 0
    ws = Workspace(load_config(cfg, env=p.env))
    try:
        page = write_report(ws, run_id).read_text()
    finally:
        ws.close()
    fresh = [cells for rid, cells in _rows(page).items() if rid not in rows]
    assert len(fresh) == 1
    assert fresh[0][1] == "received"
    assert fresh[0][3] == "none"
    assert "meta (not started)" in fresh[0][4]
    assert "segment_out (not started)" in fresh[0][4]
    assert sc.email_of(3) not in page
