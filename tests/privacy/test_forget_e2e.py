"""``connector forget`` end to end against every emulator destination.

A person present in every destination is forgotten by email; after one run no list or audience,
no table of the data store or the state store, no report or log and no file we wrote holds
their email, phone, source id or the hashes Meta and Google receive; the same person pulled
again over five runs is suppressed every time (0 resurrections).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from tests.gauntlet import harness as h
from tests.privacy import scan
from tests.privacy import scenario as sc


def _leaks(p: h.Platforms, root: Path, values: dict[str, str], email: str) -> list[str]:
    return (
        scan.data_store_hits(root, values)
        + scan.state_hits(root, values)
        + scan.file_hits(root, values)
        + scan.emulator_hits(p, values, email)
    )


def test_forget_by_email_leaves_no_trace_and_never_comes_back(tmp_path: Path) -> None:
    with sc.scenario(tmp_path) as (cfg, p):
        root = cfg.parent
        assert sc.run(cfg, p).status == "completed"
        i = sc.everywhere(p, root)
        email, phone = sc.email_of(i), sc.phone_of(i)
        values = scan.needles(email, phone, f"c{i}")
        assert _leaks(p, root, values, email), "the scan finds the person before"

        done = h.run_cli(cfg, p, "forget", "--email", email.upper())
        assert done.returncode == 0, done.stderr
        assert email not in done.stdout + done.stderr
        run = sc.run(cfg, p)
        assert run.status == "completed", run.failures
        assert run.counts["erasure_completed"] == 1
        assert _leaks(p, root, values, email) == []
        status = h.run_cli(cfg, p, "forget", "--status")
        assert "completed" in status.stdout
        for dest in ("klaviyo_out", "hubspot_out", "meta", "google", "segment_out", "export"):
            assert f"{dest}: cleared" in status.stdout

        # the person comes back in the source, with new events: suppressed, five runs running
        again = dict(sc.people()[i], updated_at="2025-12-01T00:00:00Z")
        sc.write_jsonl(root / "data" / "profiles" / "again.jsonl", [again])
        sc.write_jsonl(
            root / "data" / "events" / "again.jsonl",
            [
                dict(o, source_event_id=f"x{n}")
                for n, o in enumerate(sc.orders())
                if o["email"] == email
            ],
        )
        resurrections = 0
        for _ in range(5):
            later = sc.run(cfg, p)
            assert later.counts["suppressed"] >= 1
            resurrections += any(sc.presence(p, root, email, pid="-").values())
            assert _leaks(p, root, values, email) == []
        assert resurrections == 0
        others = sc.presence(p, root, sc.email_of((i + 1) % sc.PEOPLE))
        assert any(others.values()), "everyone else is still delivered"


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
