"""A privacy request for someone the store does not hold: routine for a controller (people
write to every company they can think of). It must complete, never block later runs, and still
keep the person out if they arrive afterwards."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
from tests.conftest import write_config

REPO = Path(__file__).resolve().parents[2]


def _cli(cfg: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), str(REPO / "plugins")])}
    env["COLUMNS"] = "200"
    return subprocess.run(
        [sys.executable, "-m", "connector", *args, "--config", str(cfg)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )


def _people(path: Path, emails: list[str]) -> None:
    rows = [
        {"source_id": f"c{i}", "email": e, "updated_at": f"2011-0{i + 1}-01T00:00:00Z"}
        for i, e in enumerate(emails)
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


def test_a_request_matching_nobody_completes_and_keeps_them_out(tmp_path: Path) -> None:
    cfg = write_config(tmp_path)
    people = tmp_path / "data" / "profiles" / "people.jsonl"
    _people(people, ["ann@example.org"])
    assert _cli(cfg, "run").returncode == 0
    forget = _cli(cfg, "forget", "--email", "nobody@example.org")
    assert forget.returncode == 0, forget.stdout + forget.stderr

    run = _cli(cfg, "run")
    assert run.returncode == 0, run.stdout + run.stderr
    assert "Traceback" not in run.stderr
    assert "crashed" not in run.stderr
    status = _cli(cfg, "forget", "--status")
    assert status.returncode == 0, status.stderr
    assert "completed" in status.stdout, status.stdout

    # the person turns up later: suppressed by the request's own identifiers
    _people(people, ["ann@example.org", "Nobody@Example.org"])
    later = _cli(cfg, "run")
    assert later.returncode == 0, later.stderr
    assert "1 of erased people dropped" in later.stdout, later.stdout
    run_id = re.search(r"Run (r\S+):", later.stdout)
    assert run_id is not None, later.stdout
    shown = _cli(cfg, "runs", "show", run_id.group(1))
    assert shown.returncode == 0, shown.stderr
    row = next(line for line in shown.stdout.splitlines() if "profiles" in line and "│" in line)
    assert [c.strip() for c in row.split("│")[3:7]] == ["2", "0", "0", "1"], row
    traits = pd.read_csv(tmp_path / "out" / "traits.csv", dtype=str)
    assert len(traits) == 1
    assert "nobody@example.org" not in traits.to_csv().lower()


def test_forget_arguments_a_user_got_wrong_give_one_line_and_exit_2(tmp_path: Path) -> None:
    cfg = write_config(tmp_path)
    cases = {
        ("--file", str(tmp_path / "missing.txt")): "--file",
        ("--audit-csv", str(tmp_path / "no" / "audit.csv")): "no folder",
        ("--record", "c17"): "SOURCE:ID (e.g. shop:c17)",
        ("--phone", "(617) 234-0003"): "read as a GB number",
    }
    for args, says in cases.items():
        out = _cli(cfg, "forget", *args)
        assert out.returncode == 2, (args, out.stdout, out.stderr)
        assert says in out.stdout + out.stderr, (args, out.stdout, out.stderr)
        assert "Traceback" not in out.stderr, args
