"""``connector forget`` from a file of people, and the audit log it leaves.

The forget-by-email leak scan and the five-run resurrection check are in
tests/gauntlet/test_erasure.py (they give the reliability report its figures).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from tests.gauntlet import harness as h
from tests.privacy import scenario as sc


def test_the_audit_log_exports_as_csv_without_raw_identifiers(tmp_path: Path) -> None:
    with sc.scenario(tmp_path) as (cfg, p):
        root = cfg.parent
        sc.run(cfg, p)
        people = root / "forget.txt"
        people.write_text(f"{sc.email_of(1)}\nphone:{sc.phone_of(2)}\n# a comment\n")
        assert h.run_cli(cfg, p, "forget", "--file", str(people)).returncode == 0
        sc.run(cfg, p)
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
