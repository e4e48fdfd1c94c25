"""The whole run on files, end to end, judged by what lands at the file sink."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pandas as pd
import pytest
from tests.conftest import write_config

from connector.config import load_config
from connector.pipeline import Workspace, run_pipeline
from connector.state.schema import cursors, ledger


def _people(n: int, start: int = 0) -> list[dict[str, object]]:
    return [
        {
            "source_id": f"c{i}",
            "email": f"person{i}@example.org",
            "first_name": f"P{i}",
            "country": "United Kingdom",
            "updated_at": "2011-11-01T00:00:00Z",
            "consent": {"email": "granted"},
        }
        for i in range(start, start + n)
    ]


def _orders(n_people: int, per_person: int = 2) -> list[dict[str, object]]:
    return [
        {
            "source_event_id": f"o{i}-{k}",
            "type": "order_completed",
            "occurred_at": f"2011-{1 + (i + k) % 11:02d}-{1 + i % 27:02d}T10:00:00Z",
            "email": f"PERSON{i}@example.org",
            "revenue": 10 + (i * 7 + k * 13) % 200,
            "currency": "GBP",
        }
        for i in range(n_people)
        for k in range(1 + i % per_person)
    ]


def _jsonl(path: Path, rows: list[dict[str, object]]) -> None:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


def _run(cfg_path: Path, *, dry_run: bool = False) -> object:
    cfg = load_config(cfg_path, env={})
    ws = Workspace(cfg)
    try:
        return run_pipeline(ws, dry_run=dry_run)
    finally:
        ws.close()


def _cli(cfg: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``connector ARGS --config CFG`` in a subprocess, on a wide terminal."""
    return subprocess.run(
        [sys.executable, "-m", "connector", *args, "--config", str(cfg)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, "COLUMNS": "200"},
    )


def _digest_dir(path: Path) -> dict[str, str]:
    return {
        p.name: hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(path.glob("*"))
        if p.is_file()
    }


def _state_rows(root: Path) -> tuple[list[tuple[object, ...]], list[tuple[object, ...]]]:
    from sqlalchemy import create_engine, select

    engine = create_engine(f"sqlite:///{root / '.connector' / 'state.db'}")
    with engine.connect() as conn:
        rows = (
            sorted(tuple(r) for r in conn.execute(select(ledger))),
            sorted(tuple(r) for r in conn.execute(select(cursors))),
        )
    engine.dispose()
    return rows


@pytest.fixture
def pipeline(tmp_path: Path) -> Path:
    cfg = write_config(tmp_path)
    _jsonl(tmp_path / "data" / "profiles" / "people.jsonl", _people(300))
    _jsonl(tmp_path / "data" / "events" / "orders.jsonl", _orders(300))
    return cfg


def test_second_run_plans_nothing_and_sink_matches_desired(pipeline: Path) -> None:
    first = _run(pipeline)
    assert first.status == "completed"
    assert first.counts["applied"] == first.counts["planned"] > 0
    second = _run(pipeline)
    assert second.counts["planned"] == 0
    traits = pd.read_csv(pipeline.parent / "out" / "traits.csv", dtype=str)
    assert len(traits) == 300
    assert traits["profile_id"].is_unique
    members = pd.read_csv(pipeline.parent / "out" / "memberships.csv", dtype=str)
    assert len(members) == 300, "every profile is in exactly one RFM tier"
    assert not members.duplicated(["segment_id", "profile_id"]).any()


def test_a_run_leaves_the_ledger_copy_current(pipeline: Path) -> None:
    """After apply the workspace's ledger copy holds what the run wrote, so the next plan
    reads nothing from the store but its own run's changes."""
    from connector.sync.mirror_file import LEDGER_COPY, KeptLedger

    _run(pipeline)
    ws = Workspace(load_config(pipeline, env={}))
    try:
        kept = KeptLedger(ws.ledger, ws.path / LEDGER_COPY)
        rows = sum(t.num_rows for t in kept.scan_arrow("export"))
        assert kept.refreshed == "kept", "the copy was already current after the first run"
        assert rows == sum(t.num_rows for t in ws.ledger.scan_arrow("export")) > 300
    finally:
        ws.close()


def test_a_run_drops_deleted_keys_once_they_outnumber_the_ledger(
    pipeline: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The keys kept for the ledger copy's deltas are dropped before the plan once they
    outnumber the ledger's rows; that plan copies the ledger afresh and still plans nothing."""
    from sqlalchemy import func, insert, select

    import connector.state.ledger_clock as ledger_clock
    from connector.state.schema import ledger_gone
    from connector.sync.mirror_file import LEDGER_COPY, KeptLedger

    first = _run(pipeline)
    ws = Workspace(load_config(pipeline, env={}))
    try:
        rows = ws.ledger.count()
        with ws.state.engine.begin() as conn:
            conn.execute(
                insert(ledger_gone),
                [
                    {"destination": "export", "key": f"m:gone:{i}", "seq": 1}
                    for i in range(rows + 1)
                ],
            )
    finally:
        ws.close()
    monkeypatch.setattr(ledger_clock, "GONE_KEPT_MIN", 0)
    second = _run(pipeline)  # compacts before its plan, which copies the ledger afresh
    assert first.counts["planned"] > 0
    assert second.counts["planned"] == 0, "planned from the fresh copy: nothing to send"
    ws = Workspace(load_config(pipeline, env={}))
    try:
        with ws.state.engine.connect() as conn:
            left = conn.execute(select(func.count()).select_from(ledger_gone)).scalar_one()
        assert left == 0, f"{rows + 1} buried keys, {rows} ledger rows: dropped"
        assert ws.ledger.count() == rows
        kept = KeptLedger(ws.ledger, ws.path / LEDGER_COPY)
        assert sum(t.num_rows for t in kept.scan_arrow("export")) == rows
        assert kept.refreshed == "kept", "the copy was made on the new epoch"
    finally:
        ws.close()


def test_a_bad_phone_is_left_out_and_the_person_keeps_their_consent(tmp_path: Path) -> None:
    """A profile whose phone is not a valid number (Ofcom's drama range) but whose e-mail is:
    the phone is left out with a warning, the profile kept. Quarantined whole, its consent
    denial was lost and the person came back from their orders with no consent on record."""
    cfg = write_config(tmp_path)
    said_no = {
        "source_id": "c1",
        "email": "ann@example.org",
        "phone": "+447700900123",
        "first_name": "Ann",
        "updated_at": "2011-11-01T00:00:00Z",
        "consent": {"email": "denied"},
    }
    _jsonl(tmp_path / "data" / "profiles" / "people.jsonl", [said_no, *_people(3, start=2)])
    _jsonl(tmp_path / "data" / "events" / "orders.jsonl", _orders(1))
    (tmp_path / "data" / "events" / "ann.jsonl").write_text(
        json.dumps(
            {"source_event_id": "a1", "type": "order_completed", "email": "ann@example.org",
             "phone": "12", "occurred_at": "2011-10-01T10:00:00Z", "revenue": 40}
        ) + "\n"
    )  # fmt: skip
    summary = _run(cfg)
    assert summary.counts["quarantined"] == 0
    assert summary.counts["warnings"] == 2, "the profile's phone and the order's"
    ws = Workspace(load_config(cfg, env={}))
    try:
        row = ws.data.con.execute(
            "SELECT first_name, phone, consent_email FROM profiles WHERE email = ?",
            ["ann@example.org"],
        ).fetchone()
        revenue = ws.data.con.execute(
            "SELECT sum(revenue) FROM events WHERE source_event_id = 'a1'"
        ).fetchone()
    finally:
        ws.close()
    assert row == ("Ann", None, "denied")
    assert revenue == (40.0,), "the order stands on its e-mail"


def test_dry_run_changes_no_ledger_output_or_cursor(pipeline: Path) -> None:
    first = _run(pipeline, dry_run=True)
    assert first.counts["planned"] > 0
    assert not (pipeline.parent / "out").exists(), "a first dry run leaves no empty folder"
    _run(pipeline)
    root = pipeline.parent
    # new data arrives, so a real run would change things
    _jsonl(
        root / "data" / "profiles" / "more.jsonl",
        [dict(p, updated_at="2011-12-05T00:00:00Z") for p in _people(50, start=300)],
    )
    _jsonl(
        root / "data" / "events" / "more.jsonl",
        [
            dict(o, occurred_at="2011-12-05T10:00:00Z", source_event_id=f"n{i}")
            for i, o in enumerate(_orders(40))
        ],
    )
    before_files = _digest_dir(root / "out")
    before_state = _state_rows(root)
    summary = _run(pipeline, dry_run=True)
    assert summary.status == "dry_run"
    assert summary.counts["planned"] > 0, "the dry run saw the new data and planned changes"
    assert _digest_dir(root / "out") == before_files
    assert _state_rows(root) == before_state
    plan = summary.plans["export"]
    assert len(list(plan.upserts)) == len(plan.upserts) > 0  # readable until the caller is done
    summary.close()  # what the CLI and the scheduler do once the plan is shown
    assert plan.engine is None
    with pytest.raises(duckdb.ConnectionException):
        list(plan.upserts)
    real = _run(pipeline)
    assert real.counts["applied"] == summary.counts["planned"]


def test_crash_between_apply_and_ledger_commit_delivers_exactly_once(pipeline: Path) -> None:
    root = pipeline.parent
    env = {**os.environ, "CONNECTOR_CRASH_AT": "apply.after_ack"}
    cmd = [sys.executable, "-m", "connector", "run", "--config", str(pipeline)]
    crashed = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert crashed.returncode == 137, crashed.stderr
    ledger_rows, _ = _state_rows(root)
    digests = {row[5] for row in ledger_rows}
    assert digests <= {"pending"}, "the crash came before the first ledger commit"
    manifest = json.loads((root / "out" / "_manifest.json").read_text())
    assert manifest["parts"], "the sink had acknowledged a batch (listed in its journal)"
    env.pop("CONNECTOR_CRASH_AT")
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    traits = pd.read_csv(root / "out" / "traits.csv", dtype=str)
    members = pd.read_csv(root / "out" / "memberships.csv", dtype=str)
    assert traits["profile_id"].is_unique
    assert len(traits) == 300
    assert not members.duplicated(["segment_id", "profile_id"]).any()
    assert len(members) == 300
    ledger_rows, _ = _state_rows(root)
    assert len(ledger_rows) == 600, "ledger agrees with the sink: 300 traits + 300 memberships"
    # a reference run in a fresh workspace lands the same content
    ref = root.parent / "reference"
    ref_cfg = write_config(ref)
    for sub in ("profiles", "events"):
        for f in (root / "data" / sub).iterdir():
            (ref / "data" / sub / f.name).write_bytes(f.read_bytes())
    _run(ref_cfg)
    ref_traits = pd.read_csv(ref / "out" / "traits.csv", dtype=str)
    cols = [c for c in traits.columns if c != "profile_id"]
    assert sorted(map(tuple, traits[cols].fillna("").values)) == sorted(
        map(tuple, ref_traits[cols].fillna("").values)
    )


def test_malformed_records_are_quarantined_and_the_rest_land(tmp_path: Path) -> None:
    cfg = write_config(tmp_path)
    good = _people(10_000)
    bad: list[dict[str, object]] = []
    for i in range(1_000):
        kind = i % 5
        if kind == 0:
            bad.append({"source_id": f"bad{i}", "email": f"broken{i}-at-example.org"})
        elif kind == 1:
            bad.append({"source_id": f"bad{i}", "phone": "12"})
        elif kind == 2:
            bad.append(
                {"source_id": f"bad{i}", "email": f"x{i}@example.org", "updated_at": "not a date"}
            )
        elif kind == 3:
            bad.append({"email": f"noid{i}@example.org"})
        else:
            bad.append(
                {
                    "source_id": f"bad{i}",
                    "consent": {"email": "maybe"},
                    "email": f"y{i}@example.org",
                }
            )
    mixed = [r for pair in zip(good[:1000], bad, strict=True) for r in pair] + good[1000:]
    lines = [json.dumps(r) + "\n" for r in mixed]
    (tmp_path / "data" / "profiles" / "people.jsonl").write_text("".join(lines))
    summary = _run(cfg)
    assert summary.status == "completed_with_rejects"
    assert summary.counts["quarantined"] == 1_000
    traits = pd.read_csv(tmp_path / "out" / "traits.csv", dtype=str)
    assert len(traits) == 10_000
    shown = _cli(cfg, "runs", "show", summary.run_id, "--limit", "0")
    assert shown.returncode == 0, shown.stderr
    # every bad record is counted; a sample of pull.quarantine_sample (100) per reason is stored
    assert "500 per-record errors" in shown.stdout
    for reason in (
        "email is not a valid address",
        "phone is not a valid number",
        "updated_at is not an ISO-8601 timestamp",
        "source_id is missing",
        "consent.email must be granted, denied or unknown",
    ):
        assert reason in shown.stdout, reason
    assert "broken17-at-example.org" not in shown.stdout, "no raw identifiers in run records"


def test_explain_shows_a_platform_id_whole_and_masks_contacts(tmp_path: Path) -> None:
    """An eleven-digit HubSpot id and a numeric source id are ids, not phone numbers: the
    masked explanation shows them whole, and still masks the e-mail and the phone."""
    cfg = write_config(tmp_path)
    person = {
        "source_id": "51234567890",
        "email": "zed@example.org",
        "phone": "+447911123456",
        "ids": {"hubspot_id": "51234567891", "external_id": "+447911123457"},
        "updated_at": "2011-11-01T00:00:00Z",
    }
    _jsonl(tmp_path / "data" / "profiles" / "people.jsonl", [person])
    _jsonl(tmp_path / "data" / "events" / "orders.jsonl", [])
    assert _run(cfg).status == "completed"
    shown = _cli(cfg, "profiles", "explain", "zed@example.org")
    assert shown.returncode == 0, shown.stderr
    assert "hubspot_id=51234567891" in shown.stdout
    assert "shop:51234567890" in shown.stdout
    assert "zed@example.org" not in shown.stdout
    assert "+447911123456" not in shown.stdout
    assert "7911123457" not in shown.stdout, "an id that is a phone number stays masked"
    assert "external_id=[phone]" in shown.stdout


def test_a_destination_naming_an_unknown_segment_or_trait_is_held(tmp_path: Path) -> None:
    """A typo in a destination's ``segments`` (or ``traits``) once emptied the lists it no
    longer named, with the run ``completed``: now the destination is held and the run says
    what is unknown."""
    cfg = write_config(tmp_path)
    _jsonl(tmp_path / "data" / "profiles" / "people.jsonl", _people(120))
    _jsonl(tmp_path / "data" / "events" / "orders.jsonl", _orders(120))
    assert _run(cfg).status == "completed"
    members = (tmp_path / "out" / "memberships.csv").read_bytes()
    traits = (tmp_path / "out" / "traits.csv").read_bytes()
    segment = pd.read_csv(tmp_path / "out" / "memberships.csv", dtype=str)["segment_id"].iloc[0]
    typo = segment[:-1] + "x"
    for extra, named in ((f'segments = ["{typo}"]', typo), ('traits = ["rfm_scroe"]', "rfm_scroe")):
        write_config(tmp_path, extra)
        summary = _run(cfg)
        assert summary.status == "partial", summary.failures
        assert any(named in f and "nothing was sent" in f for f in summary.failures), (
            summary.failures
        )
        assert (tmp_path / "out" / "memberships.csv").read_bytes() == members
        assert (tmp_path / "out" / "traits.csv").read_bytes() == traits
    # a segment the workspace produced before is known: naming it is no typo
    write_config(tmp_path, f'segments = ["{segment}"]')
    assert _run(cfg).status == "completed"


def test_a_merge_leaves_one_row_per_person_in_a_file_export(tmp_path: Path) -> None:
    """Two profiles found to be one person (a shared phone): the file export, keyed by profile
    id, keeps the survivor's rows only; before, the merged-away profile's memberships stayed
    beside the survivor's (a double count that never healed)."""
    cfg = write_config(tmp_path)
    people = _people(40)
    phone = "+447911123456"
    people[0] = {**people[0], "phone": phone}
    _jsonl(tmp_path / "data" / "profiles" / "people.jsonl", people)
    _jsonl(tmp_path / "data" / "events" / "orders.jsonl", _orders(40))
    assert _run(cfg).status == "completed"
    traits = pd.read_csv(tmp_path / "out" / "traits.csv", dtype=str)
    assert len(traits) == 40
    people[1] = {**people[1], "phone": phone, "updated_at": "2011-12-01T00:00:00Z"}
    _jsonl(tmp_path / "data" / "profiles" / "people.jsonl", people)
    summary = _run(cfg)
    assert summary.status == "completed", summary.failures
    traits = pd.read_csv(tmp_path / "out" / "traits.csv", dtype=str)
    members = pd.read_csv(tmp_path / "out" / "memberships.csv", dtype=str)
    ws = Workspace(load_config(cfg, env={}))
    try:
        live = {r[0] for r in ws.data.con.execute(
            "SELECT profile_id FROM profiles WHERE profile_id NOT IN "
            "(SELECT profile_id FROM inactive_profiles)").fetchall()}  # fmt: skip
        retired = ws.data.con.execute("SELECT count(*) FROM retired_profiles").fetchone()
    finally:
        ws.close()
    assert retired is not None
    assert retired[0] == 1, "the shared phone merged two profiles"
    assert len(live) == 39
    assert set(traits["profile_id"]) == live
    assert set(members["profile_id"]) <= live
    assert not members.duplicated(["segment_id", "email"]).any()
    assert _run(cfg).counts["planned"] == 0


def test_a_changed_address_reaches_the_file_export(tmp_path: Path) -> None:
    """A person's e-mail changed upstream: the export's rows (traits and memberships) carry
    the new address on the next run; before, the plan saw no change and the old one stayed."""
    cfg = write_config(tmp_path)
    people = _people(30)
    _jsonl(tmp_path / "data" / "profiles" / "people.jsonl", people)
    _jsonl(tmp_path / "data" / "events" / "orders.jsonl", _orders(30))
    assert _run(cfg).status == "completed"
    old = str(people[3]["email"]).lower()
    people[3] = {**people[3], "email": "renamed@example.org", "updated_at": "2011-12-01T00:00:00Z"}
    _jsonl(tmp_path / "data" / "profiles" / "people.jsonl", people)
    summary = _run(cfg)
    assert summary.counts["planned"] >= 1, summary.counts
    for name in ("traits.csv", "memberships.csv"):
        text = (tmp_path / "out" / name).read_text().lower()
        assert "renamed@example.org" in text, name
        assert old not in text, name
    assert _run(cfg).counts["planned"] == 0
