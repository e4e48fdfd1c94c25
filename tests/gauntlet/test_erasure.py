"""Erasure: a person forgotten by email leaves no trace and never comes back; an erasure
killed at any point ends, after the next run, in the same state as an uncrashed one.

Each scenario: a files source feeds every emulator destination; one run delivers; the person
in every destination is forgotten by email; the erasing run is killed at a crash point (through
``python -m connector run`` with ``CONNECTOR_CRASH_AT``); then the pipeline runs until it plans
nothing. The destinations must equal the uncrashed reference's, the request must be completed,
and the leak scan (raw values and platform hashes in every store, file, list and audience) must
find nothing. Figures go to the "erasure" section of benchmarks/RELIABILITY.md.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from tests.gauntlet import figures
from tests.gauntlet import harness as h
from tests.privacy import scan
from tests.privacy import scenario as sc

KILL_POINTS = (
    "pull.after_store@1",
    "erase.after_suppress",
    "erase.after_mark",
    "model.after_write",
    "apply.after_ack@1",
    "apply.after_ledger@2",
    "erase.before_purge",
    "erase.after_ledger",
    "erase.after_store",
    "store.compact_copied",
    "erase.after_purge",
)
QUICK = ("apply.after_ack@1", "erase.after_store")


def _leaks(p: h.Platforms, root: Path, values: dict[str, str], email: str) -> list[str]:
    return (
        scan.data_store_hits(root, values)
        + scan.state_hits(root, values)
        + scan.file_hits(root, values)
        + scan.emulator_hits(p, values, email)
    )


def _erase(tmp: Path, kill_at: str | None) -> dict[str, Any]:
    """One erasure (killed at ``kill_at`` if given), settled; what it left behind."""
    with sc.scenario(tmp) as (cfg, p):
        root = cfg.parent
        assert sc.run(cfg, p).status == "completed"
        i = sc.everywhere(p, root)
        email = sc.email_of(i)
        assert h.run_cli(cfg, p, "forget", "--email", email).returncode == 0
        code = None
        if kill_at is not None:
            code = h.run_cli(cfg, p, CONNECTOR_CRASH_AT=kill_at).returncode
        h.settle(cfg, p)
        leaks = _leaks(p, root, scan.needles(email, sc.phone_of(i), f"c{i}"), email)
        view = h.destination_view(p, root)
        cleared = sum(not v for v in sc.presence(p, root, email, pid="-").values())
        con = sqlite3.connect(root / ".connector" / "state.db")
        try:
            statuses = [r[0] for r in con.execute("SELECT status FROM erasure_requests")]
        finally:
            con.close()
    return {
        "code": code,
        "view": h.comparable(view),
        "leaks": leaks,
        "statuses": statuses,
        "cleared": cleared,
        "person": i,
    }


@pytest.fixture(scope="module")
def uncrashed(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    ref = _erase(tmp_path_factory.mktemp("erasure-ref"), None)
    figures.record(
        "erasure",
        "uncrashed reference (compared with each kill)",
        {
            "requests": 1,
            "destinations cleared": ref["cleared"],
            "resurrections": 0,
            "leaks": len(ref["leaks"]),
        },
    )
    assert ref["leaks"] == []
    assert ref["statuses"] == ["completed"]
    return ref


def _check(tmp: Path, kill_at: str, ref: dict[str, Any]) -> None:
    got = _erase(tmp, kill_at)
    killed = got["code"] == 137
    same = got["view"] == ref["view"] and got["person"] == ref["person"]
    figures.record(
        "erasure_kills",
        kill_at,
        {"killed": int(killed), "differs": int(not same), "leaks": len(got["leaks"])},
    )
    assert killed, f"the run was not killed at {kill_at} (exit {got['code']})"
    assert got["leaks"] == [], got["leaks"]
    assert got["statuses"] == ["completed"]
    assert same, f"after a kill at {kill_at} the destinations differ from the uncrashed erasure"


@pytest.mark.parametrize("kill_at", QUICK)
def test_a_killed_erasure_ends_as_an_uncrashed_one(
    tmp_path: Path, uncrashed: dict[str, Any], kill_at: str
) -> None:
    _check(tmp_path, kill_at, uncrashed)


@pytest.mark.slow
@pytest.mark.parametrize("kill_at", [k for k in KILL_POINTS if k not in QUICK])
def test_every_erasure_kill_point(tmp_path: Path, uncrashed: dict[str, Any], kill_at: str) -> None:
    _check(tmp_path, kill_at, uncrashed)


def test_forget_by_email_leaves_no_trace_and_never_comes_back(tmp_path: Path) -> None:
    with sc.scenario(tmp_path) as (cfg, p):
        root = cfg.parent
        text = cfg.read_text()
        for head, opt_in in (
            ('[destinations.klaviyo_out]\nplugin = "klaviyo"\n', "privacy_deletion = true\n"),
            ('[destinations.hubspot_out]\nplugin = "hubspot"\n', "gdpr_delete = true\n"),
            (
                '[destinations.segment_out]\nplugin = "segment"\n',
                'privacy_regulation = true\npublic_api_token = { env = "GAUNTLET_SEGMENT_PAPI" }\n'
                f'public_api_url = "{p.segment.base_url}"\n',
            ),
        ):
            assert head in text
            text = text.replace(head, head + opt_in)
        cfg.write_text(text)
        p.env["GAUNTLET_SEGMENT_PAPI"] = "papi-token"
        p.segment.seed({"public_api_tokens": ["papi-token"]})
        assert sc.run(cfg, p).status == "completed"
        i = sc.everywhere(p, root)
        email, phone = sc.email_of(i), sc.phone_of(i)
        sent_ids = {  # the userId of each identify call Segment received, by email trait
            m["traits"]["email"]: m["userId"]
            for m in p.state("segment")["messages"]
            if m.get("type") == "identify" and (m.get("traits") or {}).get("email")
        }
        values = scan.needles(email, phone, f"c{i}")
        assert _leaks(p, root, values, email), "the scan finds the person before"

        done = h.run_cli(cfg, p, "forget", "--email", email.upper())
        assert done.returncode == 0, done.stderr
        assert email not in done.stdout + done.stderr
        run = sc.run(cfg, p)
        assert run.status == "completed", run.failures
        assert run.counts["erasure_completed"] == 1
        assert _leaks(p, root, values, email) == []
        # Klaviyo (privacy_deletion on) was asked to delete the person's profile, and did
        klaviyo = p.state("klaviyo")
        assert klaviyo["privacy_deletions"] == [
            {"id": klaviyo["privacy_deletions"][0]["id"], "by": "email", "deleted": 1}
        ]
        assert email not in json.dumps(klaviyo["profiles"])
        hubspot = p.state("hubspot")  # and HubSpot (gdpr_delete on) deleted the contact
        assert hubspot["gdpr_deletions"] == [{"by": "email", "deleted": 1, "blocklisted": 0}]
        assert email not in json.dumps(hubspot["contacts"])
        # and Segment (privacy_regulation on) got a regulation naming the userId we identified
        # the person by, and deleted that user's data
        segment = p.state("segment")
        pid = sent_ids[email]
        assert [
            (r["regulationType"], r["subjectType"], r["subjectIds"]) for r in segment["regulations"]
        ] == [("SUPPRESS_WITH_DELETE", "USER_ID", [pid])]
        assert pid not in segment["users"]
        assert email not in json.dumps(segment["messages"])
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
        resurrections = leaks = suppressed = 0
        for _ in range(5):
            later = sc.run(cfg, p)
            suppressed += later.counts["suppressed"]
            resurrections += any(sc.presence(p, root, email, pid="-").values())
            leaks += len(_leaks(p, root, values, email))
        figures.record(
            "erasure",
            "forget by email, pulled again over 5 runs",
            {
                "requests": 1,
                "destinations cleared": status.stdout.count(": cleared"),
                "resurrections": resurrections,
                "leaks": leaks,
            },
        )
        assert suppressed >= 5, "the person's records were pulled again and suppressed"
        assert (resurrections, leaks) == (0, 0)
        others = sc.presence(p, root, sc.email_of((i + 1) % sc.PEOPLE))
        assert any(others.values()), "everyone else is still delivered"
