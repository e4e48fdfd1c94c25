"""Regression tests for the bugs the gauntlet found (each fix is minimal; see the report)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from tests.gauntlet.harness import REPO

from cdp_files.settings import FilesSettings
from cdp_files.sink import FilesSink
from cdp_hubspot.settings import HubSpotSettings
from cdp_hubspot.sink import HubSpotSink
from connector.plugin.changes import Change, ChangeKind, Recipient
from connector.testing.context import make_context


def _upsert(pid: str, **traits: object) -> Change:
    return Change(ChangeKind.UPSERT, Recipient(pid, email=f"{pid}@x.org"), f"t:{pid}", "d", traits)


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_files_sink_writes_one_text_form_per_value(tmp_path: Path, fmt: str) -> None:
    """A score is "11" whichever batch or run wrote it; a missing value is empty, not "None".

    Found by the crash harness: after a resume the sink re-read earlier rows as text while new
    rows came as ints upcast to float by a gap in the column, so one score read "11" or "11.0"
    depending on where the run had crashed.
    """
    settings = FilesSettings(path=tmp_path / "out", format=fmt)
    first = FilesSink(settings, make_context(tmp_path))
    first.prepare([], [])
    first.apply([_upsert("a", rfm_score=11, rfm_tier="high"), _upsert("b", rfm_tier="low")])
    first.close()
    again = FilesSink(settings, make_context(tmp_path))  # a new process after a crash
    again.prepare([], [])
    again.apply([_upsert("c", rfm_score=13, rfm_tier="high")])
    again.close()  # the journal's parts are folded into the file when the sink closes
    path = tmp_path / "out" / f"traits.{fmt}"
    frame = (
        pd.read_csv(path, dtype=str, keep_default_na=False)
        if fmt == "csv"
        else pd.read_parquet(path)
    )
    scores = dict(zip(frame["profile_id"], frame["rfm_score"], strict=True))
    assert scores == {"a": "11", "b": "", "c": "13"}


def test_hubspot_sink_declines_recipients_it_can_never_match(tmp_path: Path) -> None:
    """No email and no HubSpot id: the planner skips the profile instead of a retry every run."""
    sink = HubSpotSink(
        HubSpotSettings(access_token="pat-x", base_url="http://127.0.0.1:9"),
        make_context(tmp_path),
    )
    assert not sink.accepts(Recipient("p1", phone="+15555550100"))
    assert sink.accepts(Recipient("p2", email="a@b.org"))
    assert sink.accepts(Recipient("p3", ids={"hubspot_id": "1001"}))


@pytest.mark.parametrize(("target", "code"), [("x.point@2", 137), ("x.point@3", 0)])
def test_counted_crash_point_dies_on_the_nth_pass(target: str, code: int) -> None:
    script = (
        "from connector.runctl.crashpoints import crashpoint\n"
        "for _ in range(2): crashpoint('x.point')\n"
    )
    env = {**os.environ, "CONNECTOR_CRASH_AT": target, "PYTHONPATH": str(REPO)}
    done = subprocess.run([sys.executable, "-c", script], env=env, check=False, timeout=60)
    assert done.returncode == code


def test_hubspot_not_opted_out_is_no_grant_and_a_denial_is_dated_by_the_change() -> None:
    """Found by the fault matrix: our own trait write-back moved HubSpot's lastmodifieddate, and
    an inferred "not opted out" grant then outranked a later Klaviyo unsubscribe, so the same
    data activated different people depending on the run's history. "Not opted out" is no
    statement at all; only an opt-out is, dated by the contact's last change."""
    from cdp_hubspot.source import contact_record

    props = {
        "email": "a@example.org",
        "createdate": "2020-01-01T00:00:00Z",
        "lastmodifieddate": "2030-06-01T00:00:00Z",
        "hs_email_optout": "false",
    }
    record = contact_record("1", props)
    assert record["consent"] == {}
    assert record["consent_at"] is None
    opted_out = contact_record("1", {**props, "hs_email_optout": "true"})
    assert opted_out["consent"] == {"email": "denied"}
    assert opted_out["consent_at"] == "2030-06-01T00:00:00Z"


def test_unknown_consent_never_erases_a_grant_or_a_denial(tmp_path: Path) -> None:
    """Found by the fault matrix: a HubSpot contact created by our own write-back said
    "unknown" with a fresh timestamp and so overrode the Klaviyo answer of the same person."""
    import json

    from tests.conftest import write_config

    from connector.config import load_config
    from connector.pipeline import Workspace, run_pipeline
    from connector.store import DataStore

    cfg = write_config(tmp_path)
    rows = [
        {
            "source_id": "a",
            "email": "x@example.org",
            "updated_at": "2020-01-01T00:00:00Z",
            "consent": {"email": "denied", "ads": "granted"},
        },
        {
            "source_id": "b",
            "email": "x@example.org",
            "updated_at": "2021-01-01T00:00:00Z",
            "consent": {"email": "unknown", "ads": "unknown"},
        },
    ]
    (tmp_path / "data" / "profiles" / "p.jsonl").write_text(
        "".join(json.dumps(r) + "\n" for r in rows)
    )
    ws = Workspace(load_config(cfg, env={}))
    try:
        run_pipeline(ws)
    finally:
        ws.close()
    store = DataStore(tmp_path / ".connector" / "data.duckdb")
    try:
        got = store.con.execute("SELECT consent_email, consent_ads FROM profiles").fetchall()
    finally:
        store.close()
    assert got == [("denied", "granted")]


@pytest.mark.parametrize("raw", [10**400, "9" * 400, "²³", "1" * 5000])
def test_absurd_timestamps_are_quarantined_not_fatal(raw: object) -> None:
    """Found by the hostile-input properties: a 400-digit epoch overflowed before the range
    check, and int() refuses more than 4,300 digits; both escaped as non-record errors."""
    from connector.errors import SkippableError
    from connector.schema.normalise import parse_timestamp

    with pytest.raises(SkippableError):
        parse_timestamp(raw, field="updated_at")


def test_segment_webhook_survives_an_unencodable_message_id(tmp_path: Path) -> None:
    """Found by the hostile-input properties: a messageId holding a lone surrogate killed the
    spool's writer thread, and every later delivery timed out with 503 until a restart."""
    from cdp_segment.webhook import WebhookReceiver, sign

    secret = b"whsec-fix"
    bad = b'{"type": "track", "event": "x", "userId": "u", "messageId": "\\ud800"}'
    good = b'{"type": "track", "event": "x", "userId": "u", "messageId": "m-2"}'
    with WebhookReceiver(tmp_path / "spool.db", secret) as receiver:
        first, _, _ = receiver.receive(bad, sign(secret, bad))
        second, answer, _ = receiver.receive(good, sign(secret, good))
    assert first == 200
    assert (second, answer["stored"]) == (200, True)


def test_segment_spool_refuses_a_bad_message_alone(tmp_path: Path) -> None:
    """A message the spool cannot store fails on its own: the good messages committed in the
    same group are stored and acknowledged, and the writer keeps serving."""
    from concurrent.futures import ThreadPoolExecutor

    from cdp_segment.webhook.spool import GroupWriter, Spool, SpoolError

    spool = Spool(tmp_path / "spool.db")
    writer = GroupWriter(spool)
    bodies = [(f"m-{i}", "{}") for i in range(40)] + [("bad", "\ud800")]

    def submit(item: tuple[str, str]) -> str:
        try:
            return "new" if writer.submit(*item) else "dup"
        except SpoolError:
            return "refused"

    try:
        with ThreadPoolExecutor(8) as pool:
            outcomes = dict(zip((m for m, _ in bodies), pool.map(submit, bodies), strict=True))
        assert outcomes.pop("bad") == "refused"
        assert set(outcomes.values()) == {"new"}
        assert writer.submit("m-after", "{}") is True
    finally:
        writer.close()


def test_a_store_left_empty_by_a_killed_creation_opens(tmp_path: Path) -> None:
    """A run SIGKILLed while DuckDB created the file left it empty; the next run must go on.

    The CI gauntlet hit this once in ~200 kills; the store is now created under a temporary name
    and renamed, and an empty file (all an older version could leave) is created again.
    """
    from connector.store.datastore import DataStore

    path = tmp_path / "data.duckdb"
    path.touch()
    (tmp_path / "data.duckdb.4242.creating").write_bytes(b"half a header")
    store = DataStore(path)
    try:
        tables = {row[0] for row in store.con.execute("SHOW TABLES").fetchall()}
        assert {"profiles", "events"} <= tables
    finally:
        store.close()
    assert not list(tmp_path.glob("*.creating*"))
    assert oct(path.stat().st_mode & 0o777) == oct(0o600)
    DataStore(path).close()  # and the created file is a valid store on the next open


def _create_at(path: str, start_at: float) -> str:
    import time

    from connector.store.datastore import _create

    time.sleep(max(0.0, start_at - time.time()))
    _create(Path(path))
    return "ok"


def test_processes_creating_one_store_at_once_leave_one_valid_store(tmp_path: Path) -> None:
    """Read-only commands open the store without the run lock, so two processes can create it
    at once; without the creation lock one deleted or replaced the other's file (seen in review:
    FileNotFoundError, and a 0644 store with no tables)."""
    import multiprocessing
    import time

    from connector.store.datastore import DataStore

    path = tmp_path / "data.duckdb"
    ctx = multiprocessing.get_context("spawn")
    for _ in range(3):
        path.unlink(missing_ok=True)
        start_at = time.time() + 1.5  # after the spawned interpreters have imported
        with ctx.Pool(4) as pool:
            results = pool.starmap(_create_at, [(str(path), start_at)] * 4)
        assert results == ["ok"] * 4
        assert oct(path.stat().st_mode & 0o777) == oct(0o600)
        store = DataStore(path)
        try:
            assert len(store.con.execute("SHOW TABLES").fetchall()) >= 2
        finally:
            store.close()
        assert not list(tmp_path.glob("*.creating*"))


def test_files_sink_csv_cells_are_inert_in_a_spreadsheet(tmp_path: Path) -> None:
    """Issue 20: a valid email like ``=cmd|'/ccalc'!a0@example.com`` and a segment named
    ``=HYPERLINK(...)`` were written as live formulas; numbers stay numbers, and the sink reads
    its own cells back as sent (a resumed run rewrites nothing)."""
    from connector.plugin.changes import SegmentRef

    settings = FilesSettings(path=tmp_path / "out", format="csv")
    evil = "=cmd|'/ccalc'!a0@example.com"
    segment = SegmentRef("s1", '=HYPERLINK("http://x.example","click")', "")
    sink = FilesSink(settings, make_context(tmp_path))
    sink.prepare([], [segment])
    sink.apply(
        [
            Change(ChangeKind.UPSERT, Recipient("a", email=evil), "t:a", "d", {"delta": -3}),
            Change(ChangeKind.UPSERT, Recipient("b", email="b@x.org"), "t:b", "d", {"n": "'q"}),
            Change(ChangeKind.ADD, Recipient("a", email=evil), "m:a", "d", segment=segment),
        ]
    )
    sink.close()
    traits = (tmp_path / "out" / "traits.csv").read_text()
    members = (tmp_path / "out" / "memberships.csv").read_text()
    assert "'=cmd|" in traits
    assert ",-3" in traits  # a negative number is not a formula
    assert "''q" in traits
    assert "'=HYPERLINK" in members
    assert "'=cmd|" in members
    for line in (traits + members).splitlines():
        assert not any(cell.startswith(("=", "+", "@")) for cell in line.split(","))
    before = (traits, members)
    again = FilesSink(settings, make_context(tmp_path))  # a new process reads its own file back
    again.prepare([], [segment])
    again.apply(
        [Change(ChangeKind.UPSERT, Recipient("b", email="b@x.org"), "t:b", "d", {"n": "'q"})]
    )
    after = (
        (tmp_path / "out" / "traits.csv").read_text(),
        (tmp_path / "out" / "memberships.csv").read_text(),
    )
    assert after == before
