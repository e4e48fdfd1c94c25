"""Echoes never keep a deleted person active (issue 12, live accounts).

The Klaviyo destination creates a Klaviyo profile for every person of the files source; the
Klaviyo source, on the same account, reads those profiles back. When the person is deleted at
the files source, the Klaviyo profile we created is only an echo of our own write: the person
stops being active and leaves the Klaviyo list on that run, while everyone else stays, and a
person Klaviyo held before we wrote anything (a native profile) keeps theirs alive.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import duckdb
import httpx
from tests.conftest import write_config

from cdp_klaviyo.emulator import KlaviyoEmulator
from connector.config import load_config
from connector.pipeline import Workspace, run_pipeline
from connector.pipeline.runner import RunSummary
from connector.plugin.spec import EmulatorOptions

KEY = "pk_echo_lifecycle_1"
PEOPLE = 12
NATIVE = 0  # person 0 also signed up in Klaviyo on their own before any run


def _email(i: int) -> str:
    return f"echo{i}@example.org"


def _jsonl(path: Path, rows: list[dict[str, Any]]) -> None:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


def _run(cfg: Path) -> RunSummary:
    ws = Workspace(load_config(cfg, env={"KLAVIYO_KEY": KEY}))
    try:
        summary = run_pipeline(ws)
    finally:
        ws.close()
    assert summary.failures == [], summary.failures
    return summary


def _members(kla: KlaviyoEmulator) -> set[str]:
    """Emails in any Klaviyo list."""
    state = httpx.get(f"{kla.base_url}/__emulator__/state", timeout=30).json()
    email = {pid: (p.get("email") or "").lower() for pid, p in state["profiles"].items()}
    return {email[m] for lst in state["lists"].values() for m in lst["members"]}


def _inactive(root: Path) -> set[str]:
    con = duckdb.connect(str(root / ".connector" / "data.duckdb"), read_only=True)
    try:
        rows = con.execute(
            """SELECT i.value FROM inactive_profiles x JOIN identities i USING (profile_id)
               WHERE i.kind = 'email'"""
        ).fetchall()
    finally:
        con.close()
    return {str(r[0]) for r in rows}


def test_a_profile_our_destination_created_does_not_keep_a_deleted_person(
    tmp_path: Path,
) -> None:
    with KlaviyoEmulator(EmulatorOptions(limits="off", seed=3)) as kla:
        native = {"email": _email(NATIVE), "first_name": "Native", "email_consent": "granted"}
        httpx.post(f"{kla.base_url}/__emulator__/seed", json={"people": [native]})
        cfg = write_config(
            tmp_path,
            f"""
[sources.esp]
plugin = "klaviyo"
api_key = {{ env = "KLAVIYO_KEY" }}
base_url = "{kla.base_url}"

[destinations.klaviyo_out]
plugin = "klaviyo"
api_key = {{ env = "KLAVIYO_KEY" }}
base_url = "{kla.base_url}"
poll_interval = 0.05
""",
        )
        people = [
            {"source_id": f"c{i}", "email": _email(i), "first_name": f"P{i}",
             "updated_at": "2011-01-01T00:00:00Z", "consent": {"email": "granted"}}
            for i in range(PEOPLE)
        ]  # fmt: skip
        _jsonl(tmp_path / "data" / "profiles" / "people.jsonl", people)
        orders = [
            {"source_event_id": f"o{i}", "type": "order_completed", "email": _email(i),
             "occurred_at": f"2011-{1 + i % 11:02d}-10T10:00:00Z", "revenue": 5 + i}
            for i in range(PEOPLE)
        ]  # fmt: skip
        _jsonl(tmp_path / "data" / "events" / "orders.jsonl", orders)
        _run(cfg)  # creates a Klaviyo profile for everyone but the native one
        _run(cfg)  # the Klaviyo source reads them back
        listed = _members(kla)
        assert _inactive(tmp_path) == set()
        assert _email(NATIVE) in listed, listed
        gone = [*[i for i in range(1, PEOPLE) if _email(i) in listed][:2], NATIVE]
        assert len(gone) == 3, listed

        deleted = [{"source_id": f"c{i}", "deleted": True} for i in gone]
        _jsonl(tmp_path / "data" / "profiles" / "deleted.jsonl", deleted)
        third = _run(cfg)

        echoes_only = {_email(i) for i in gone if i != NATIVE}
        assert _inactive(tmp_path) == echoes_only
        assert third.counts["inactive"] == len(echoes_only)
        after = _members(kla)
        assert not after & echoes_only, "a deleted person is still in a Klaviyo list"
        assert _email(NATIVE) in after, "their own Klaviyo profile keeps the native person"
        assert listed - echoes_only <= after, "nobody else left a list"
