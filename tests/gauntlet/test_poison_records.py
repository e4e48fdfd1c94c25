"""Poison records, dates from the future and floods of bad rows, through the real files plugin.

Issue 20: one record that raised something other than our own errors (a RecursionError from a
line nested 100k deep, an OverflowError from ``9999-12-31T23:59:59-05:00``) failed every run; one
record dated 9999 moved a cursor to 9999 and every later record was skipped with exit 0; and
every bad row was held in memory and stored again on every run.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tracemalloc
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from tests.conftest import REPO, write_config
from tests.gauntlet import figures

from connector.config import load_config
from connector.pipeline import Workspace, run_pipeline
from connector.pipeline.pull import pull_source
from connector.state.schema import record_errors

NESTED = "[" * 100_000 + "]" * 100_000


def _person(i: int, updated: str = "2011-11-01T00:00:00Z") -> dict[str, Any]:
    return {"source_id": f"c{i}", "email": f"person{i}@example.org", "updated_at": updated}


def _order(i: int, when: str = "2011-10-01T10:00:00Z") -> dict[str, Any]:
    return {
        "source_event_id": f"o{i}",
        "type": "order_completed",
        "occurred_at": when,
        "email": f"person{i}@example.org",
        "revenue": 10 + i,
    }


def _lines(rows: list[Any]) -> str:
    return "".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows)


def _cli(cfg: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONNECTOR_")}
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), str(REPO / "plugins")])
    return subprocess.run(
        [sys.executable, "-m", "connector", "run", "--config", str(cfg), *args],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        cwd=cfg.parent,
        env=env,
    )


def _run(cfg: Path) -> Any:
    ws = Workspace(load_config(cfg, env={}))
    try:
        return run_pipeline(ws)
    finally:
        ws.close()


def _stored(cfg: Path, sql: str) -> list[tuple[Any, ...]]:
    ws = Workspace(load_config(cfg, env={}))
    try:
        return [tuple(r) for r in ws.data.con.execute(sql).fetchall()]
    finally:
        ws.close()


def test_poison_records_are_isolated_and_the_next_run_goes_on(tmp_path: Path) -> None:
    bad_dir = tmp_path / "bad"
    (bad_dir / "profiles").mkdir(parents=True)
    (bad_dir / "events").mkdir(parents=True)
    cfg = write_config(
        tmp_path,
        '\n[sources.bad]\nplugin = "files"\npath = "bad"\nlookback = "1h"\n',
    )
    overflow = {**_person(99), "updated_at": "9999-12-31T23:59:59-05:00"}
    (tmp_path / "data" / "profiles" / "p.jsonl").write_text(
        _lines([_person(1), overflow, _person(2), _person(3)])
    )
    (tmp_path / "data" / "events" / "e.jsonl").write_text(_lines([_order(1), _order(2)]))
    (bad_dir / "profiles" / "p.jsonl").write_text(_lines([_person(10)]))
    (bad_dir / "events" / "e.jsonl").write_text(_lines([_order(10), NESTED, _order(11)]))

    first = _cli(cfg)
    assert first.returncode == 3, first.stderr  # completed, with a quarantine or a failed stream
    assert "Traceback" not in first.stderr
    emails = {e for (e,) in _stored(cfg, "SELECT email FROM profile_records")}
    assert {f"person{i}@example.org" for i in (1, 2, 3, 10)} <= emails
    assert "person99@example.org" not in emails
    assert _stored(cfg, "SELECT count(*) FROM events WHERE source = 'shop'") == [(2,)]
    # the line after the poison one is read too: one bad record never ends its stream
    assert _stored(cfg, "SELECT source_event_id FROM events WHERE source = 'bad' ORDER BY 1") == [
        ("o10",),
        ("o11",),
    ]
    ws = Workspace(load_config(cfg, env={}))
    try:
        run = ws.runs.recent(1)[0]
        assert run.counts["quarantined"] == 2  # the out-of-range profile and the nested line
        reasons = [e.reason for e in ws.runs.errors(run.run_id)]
        assert any("OverflowError" in r or "out of range" in r for r in reasons), reasons
    finally:
        ws.close()

    # the next run (now with cursors, so the source itself filters by date) still completes
    (tmp_path / "data" / "events" / "e2.jsonl").write_text(_lines([_order(3)]))
    second = _cli(cfg)
    assert second.returncode == 0, second.stderr  # nothing new is bad: a clean run
    assert "Traceback" not in second.stderr
    assert _stored(cfg, "SELECT count(*) FROM events WHERE source = 'shop'") == [(3,)]
    figures.record("hostile", "poison_records", {"inputs": 2, "crashes": 0})


def test_a_record_from_the_future_never_moves_a_cursor(tmp_path: Path) -> None:
    cfg = write_config(tmp_path)
    future = {**_person(9), "updated_at": "9999-12-31T00:00:00Z"}
    (tmp_path / "data" / "profiles" / "a.jsonl").write_text(
        _lines([_person(1, "2011-11-01T00:00:00Z"), future])
    )
    first = _run(cfg)
    assert first.counts["quarantined"] == 1
    ws = Workspace(load_config(cfg, env={}))
    try:
        mark = ws.cursors.get("shop", "profiles")
        assert mark is not None
        assert mark.startswith("2011-11-01")
        reasons = [e.reason for e in ws.runs.errors(first.run_id)]
        assert any("in the future" in r for r in reasons), reasons
    finally:
        ws.close()

    # a later record (but long before today) lands; the future one is not counted again
    (tmp_path / "data" / "profiles" / "b.jsonl").write_text(
        _lines([_person(2, "2011-12-01T00:00:00Z")])
    )
    second = _run(cfg)
    assert second.status == "completed", second.failures
    assert second.counts["already_quarantined"] == 0  # a.jsonl untouched: not read again
    emails = {e for (e,) in _stored(cfg, "SELECT email FROM profile_records")}
    assert emails == {"person1@example.org", "person2@example.org"}
    # appended to, a.jsonl is read again: the future record is known, not quarantined again
    with (tmp_path / "data" / "profiles" / "a.jsonl").open("a") as fh:
        fh.write(_lines([_person(3, "2011-12-02T00:00:00Z")]))
    third = _run(cfg)
    assert third.status == "completed", third.failures
    assert third.counts["already_quarantined"] == 1
    ws = Workspace(load_config(cfg, env={}))
    try:
        assert (ws.cursors.get("shop", "profiles") or "").startswith("2011-12-02")
    finally:
        ws.close()


def test_a_cursor_already_in_the_future_is_ignored_and_rebuilt(tmp_path: Path) -> None:
    """A workspace an older version left with a 9999 cursor: the stream is re-read in full."""
    cfg = write_config(tmp_path)
    (tmp_path / "data" / "profiles" / "a.jsonl").write_text(_lines([_person(1)]))
    _run(cfg)
    ws = Workspace(load_config(cfg, env={}))
    try:
        ws.cursors.commit("shop", "profiles", "9999-12-31T00:00:00.000000Z", None)
    finally:
        ws.close()
    (tmp_path / "data" / "profiles" / "b.jsonl").write_text(
        _lines([_person(2, "2011-12-01T00:00:00Z")])
    )
    summary = _run(cfg)
    assert summary.stages["pull"]["shop"]["streams"]["profiles"]["cursor_reset"]
    emails = {e for (e,) in _stored(cfg, "SELECT email FROM profile_records")}
    assert "person2@example.org" in emails
    ws = Workspace(load_config(cfg, env={}))
    try:
        assert (ws.cursors.get("shop", "profiles") or "").startswith("2011-12-01")
    finally:
        ws.close()


def _flood(root: Path, bad: int) -> tuple[int, int]:
    """Pull ``bad`` rows without an identifier (one reason) plus a few good rows; return
    (stored error rows, traced peak bytes) of the pull."""
    cfg = write_config(root)
    rows: list[Any] = [_person(i) for i in range(50)]
    rows += [{"source_id": f"bad{i}", "first_name": "No Identifier"} for i in range(bad)]
    (root / "data" / "profiles" / "flood.jsonl").write_text(_lines(rows))
    config = load_config(cfg, env={})
    ws = Workspace(config)
    try:
        ws.runs.start("r-flood", dry_run=False)
        tracemalloc.start()
        try:
            res = pull_source(ws, "shop", config.sources["shop"], run_id="r-flood", dry_run=False)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert res.quarantined == bad
        assert res.streams["profiles"]["reasons"] == {
            "profile has no identifier (email, phone or ids)": bad
        }
        with ws.state.engine.connect() as conn:
            stored = conn.execute(select(func.count()).select_from(record_errors)).scalar_one()
    finally:
        ws.close()
    return int(stored), peak


def test_quarantine_stores_a_bounded_sample_in_bounded_memory(tmp_path: Path) -> None:
    small_rows, small_peak = _flood(tmp_path / "small", 6_000)
    large_rows, large_peak = _flood(tmp_path / "large", 30_000)
    assert small_rows == large_rows == 100  # pull.quarantine_sample per reason and stream
    # five times the bad rows: a per-row cost would grow the peak ~5x; chunks keep it flat
    assert large_peak < 2 * small_peak, (small_peak, large_peak)
    figures.record("hostile", "quarantine_flood", {"inputs": 36_000, "crashes": 0})


def test_unchanged_bad_input_is_not_quarantined_again(tmp_path: Path) -> None:
    cfg = write_config(tmp_path)
    rows: list[Any] = [_person(1), "{not json", {"source_id": "x", "first_name": "no id"}]
    (tmp_path / "data" / "profiles" / "a.jsonl").write_text(_lines(rows))
    first = _run(cfg)
    assert first.counts["quarantined"] == 2
    assert first.status == "completed_with_rejects"
    second = _run(cfg)  # the file is unchanged: skipped whole
    assert second.counts["quarantined"] == second.counts["already_quarantined"] == 0
    assert second.status == "completed"
    with (tmp_path / "data" / "profiles" / "a.jsonl").open("a") as fh:
        fh.write(_lines([_person(2)]))
    third = _run(cfg)  # appended to: read whole again, the bad rows known from before
    assert third.counts["quarantined"] == 0
    assert third.counts["already_quarantined"] == 2
    assert third.status == "completed"
    ws = Workspace(load_config(cfg, env={}))
    try:
        assert ws.runs.errors(second.run_id) == ws.runs.errors(third.run_id) == []
        assert len(ws.runs.errors(first.run_id)) == 2
    finally:
        ws.close()


def test_old_quarantine_rows_are_pruned(tmp_path: Path) -> None:
    from datetime import UTC, datetime, timedelta

    from connector.state.quarantine import QuarantineStore

    cfg = write_config(tmp_path)
    (tmp_path / "data" / "profiles" / "a.jsonl").write_text(_lines([_person(1), "{bad"]))
    first = _run(cfg)
    ws = Workspace(load_config(cfg, env={}))
    try:
        assert len(ws.runs.errors(first.run_id)) == 1
        removed = QuarantineStore(ws.state).prune(datetime.now(UTC) + timedelta(days=1))
        assert removed == 2  # the error row and the fingerprint
        assert ws.runs.errors(first.run_id) == []
    finally:
        ws.close()


def test_source_warnings_reach_the_run_report(tmp_path: Path) -> None:
    """Issue 20: unknown columns were only logged; the run now counts and shows them."""
    cfg = write_config(tmp_path)
    (tmp_path / "data" / "profiles" / "p.csv").write_text(
        "source_id,email,emial,updated_at\n"
        "c1,person1@example.org,typo1@example.org,2011-11-01T00:00:00Z\n"
    )
    done = _cli(cfg)
    assert done.returncode == 0, done.stderr
    assert "1 source warnings" in done.stdout
    ws = Workspace(load_config(cfg, env={}))
    try:
        run = ws.runs.recent(1)[0]
        assert run.counts["warnings"] == 1
        shown = run.stages["pull"]["shop"]["streams"]["profiles"]
        assert shown["warnings"] == 1
        assert "'emial'" in shown["warning_samples"][0]
        assert "typo1@example.org" not in json.dumps(run.stages)
        report = (ws.path / "reports" / f"{run.run_id}.html").read_text()
    finally:
        ws.close()
    assert "emial" in report
    assert "typo1@example.org" not in report
    listed = subprocess.run(
        [sys.executable, "-m", "connector", "runs", "show", run.run_id, "--config", str(cfg)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), str(REPO / "plugins")])},
    )
    assert "1 warning(s)" in listed.stdout, listed.stdout + listed.stderr
