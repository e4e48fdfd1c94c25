"""What an operator types after a run: read-only commands need no production secrets,
`--output json` for scripts, `runs show` per source and destination with error search, the
`state` commands, and `run` subsets (--source, --destination, --segment)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pandas as pd
import pytest
from tests.conftest import write_config

from connector.config import load_config
from connector.demo.dataset import write_demo_inputs
from connector.pipeline import Workspace, run_pipeline
from connector.state.runs import RecordError

# destinations whose secrets are deliberately unset in these tests
SECRET_DESTINATIONS = """
[destinations.crm]
plugin = "hubspot"
enabled = false
access_token = { env = "UX_TEST_HUBSPOT_TOKEN" }

[destinations.ads]
plugin = "meta"
enabled = false
ad_account_id = "123"
"""


def cli(cfg: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("UX_TEST_")}
    return subprocess.run(
        [sys.executable, "-m", "connector", *args, "--config", str(cfg)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**env, "COLUMNS": "200"},
    )


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A full-engine run on the demo data; then destinations whose secrets are unset."""
    root = tmp_path_factory.mktemp("ops")
    cfg = write_config(root, engine="full")
    write_demo_inputs(root / "data", shift=timedelta(0))
    ws = Workspace(load_config(cfg, env={}))
    try:
        run_id = run_pipeline(ws).run_id
        pid, email = ws.data.con.execute(
            "SELECT profile_id, value FROM identities WHERE kind = 'email' ORDER BY 1 LIMIT 1"
        ).fetchone()
        source_id = ws.data.con.execute(
            """SELECT pr.source_id FROM profile_records pr JOIN id_set_profile m USING (id_sig)
               WHERE m.profile_id = ? LIMIT 1""",
            [pid],
        ).fetchone()[0]
        (root / "source_id.txt").write_text(f"{source_id}\n{pid}")
        ws.runs.add_errors(
            run_id, [RecordError("apply", "export", "refused by the platform", f"t:{pid}", pid)]
        )
    finally:
        ws.close()
    cfg.write_text(cfg.read_text() + SECRET_DESTINATIONS)
    (root / "email.txt").write_text(email)
    return cfg, run_id


READ_ONLY = [
    ("runs",),
    ("runs", "show", "r"),
    ("report",),
    ("segments",),
    ("segments", "lift", "tier-high", "--until", "2030-01-01"),
    ("models", "show"),
    ("state", "show"),
    ("config", "show"),
]


@pytest.mark.parametrize("args", READ_ONLY, ids=" ".join)
def test_read_only_commands_need_no_production_secrets(
    workspace: tuple[Path, str], args: tuple[str, ...]
) -> None:
    cfg, run_id = workspace
    args = tuple(run_id if a == "r" else a for a in args)
    done = cli(cfg, *args)
    assert done.returncode == 0, done.stderr
    assert "UX_TEST_HUBSPOT_TOKEN" not in done.stderr


def test_profiles_explain_by_email_or_source_id_in_words(workspace: tuple[Path, str]) -> None:
    cfg, _ = workspace
    email = (cfg.parent / "email.txt").read_text()
    source_id, pid = (cfg.parent / "source_id.txt").read_text().split("\n")
    by_email = cli(cfg, "profiles", "explain", email)  # with production secrets unset
    assert by_email.returncode == 0, by_email.stderr
    by_source = cli(cfg, "profiles", "explain", source_id)
    by_id = cli(cfg, "profiles", "explain", f"shop:{source_id}")
    assert by_email.stdout == by_source.stdout == by_id.stdout
    out = by_email.stdout
    assert f"profile {pid}" in out
    assert email not in out
    assert re.search(r"churn risk: (low|medium|high) \(\d+% chance of no order in 90 days\)", out)
    assert re.search(r"predicted lifetime value: £[\d,]+\.\d\d over the next 365 days", out)
    assert "expected next order: around 20" in out
    assert re.search(r"\((tier|cluster)-\w+\): (activated|control group)", out)
    assert "Sent" in out or "sent: nothing yet" in out
    missing = cli(cfg, "profiles", "explain", "nobody@example.org")
    assert missing.returncode == 1


def test_a_platform_command_still_names_the_missing_secret(workspace: tuple[Path, str]) -> None:
    cfg, _ = workspace
    done = cli(cfg, "check", "--offline")
    assert done.returncode == 2
    assert "environment variable UX_TEST_HUBSPOT_TOKEN is not set" in done.stderr


@pytest.mark.parametrize(
    ("args", "kind"),
    [
        (("runs",), list),
        (("runs", "show", "r"), dict),
        (("segments",), list),
        (("models", "show"), dict),
        (("state", "show"), list),
    ],
    ids=lambda v: " ".join(v) if isinstance(v, tuple) else v.__name__,
)
def test_output_json(workspace: tuple[Path, str], args: tuple[str, ...], kind: type) -> None:
    cfg, run_id = workspace
    args = tuple(run_id if a == "r" else a for a in args)
    done = cli(cfg, *args, "--output", "json")
    assert done.returncode == 0, done.stderr
    assert isinstance(json.loads(done.stdout), kind)


def test_runs_show_breaks_down_and_searches_errors(workspace: tuple[Path, str]) -> None:
    cfg, run_id = workspace
    email = (cfg.parent / "email.txt").read_text()
    shown = json.loads(cli(cfg, "runs", "show", run_id, "-o", "json").stdout)
    assert [s["stream"] for s in shown["sources"]][:2] == ["profiles", "events"]
    assert shown["sources"][0]["quarantined"] == 1
    export = shown["destinations"][0]
    assert export["destination"] == "export"
    assert export["applied"] == sum(export["planned"].values())
    by_email = cli(cfg, "runs", "show", run_id, "--search", email)
    assert "1 per-record errors about [email]" in by_email.stdout, "the email is masked"
    assert "refused by the platform" in by_email.stdout
    assert email not in by_email.stdout
    as_json = cli(cfg, "runs", "show", run_id, "--search", email, "-o", "json")
    assert json.loads(as_json.stdout)["record_errors"][0]["reason"] == "refused by the platform"
    assert email not in as_json.stdout
    by_source = cli(cfg, "runs", "show", run_id, "--search", "crm-broken-1", "-o", "json")
    found = json.loads(by_source.stdout)["record_errors"]
    assert [e["record_ref"] for e in found] == ["shop:profiles:crm-broken-1"]
    nobody = cli(cfg, "runs", "show", run_id, "--search", "x@y.org", "-o", "json")
    assert json.loads(nobody.stdout)["record_errors"] == []


def test_state_show_and_reset(tmp_path: Path) -> None:
    cfg = write_config(tmp_path)
    write_demo_inputs(tmp_path / "data", shift=timedelta(0))
    assert cli(cfg, "run").returncode in (0, 3)
    marks = json.loads(cli(cfg, "state", "show", "-o", "json").stdout)
    assert {m["stream"] for m in marks} >= {"profiles", "events"}
    refused = cli(cfg, "state", "reset")
    assert refused.returncode == 2
    assert "--yes" in refused.stderr
    typo = cli(cfg, "state", "reset", "shop.evnets")
    assert typo.returncode == 2, typo.stdout
    assert "no mark for stream 'evnets' (streams with marks: events, profiles" in typo.stderr
    done = cli(cfg, "state", "reset", "shop.events")
    assert done.returncode == 0, done.stderr
    left = json.loads(cli(cfg, "state", "show", "shop", "-o", "json").stdout)
    assert "events" not in {m["stream"] for m in left}
    assert "profiles" in {m["stream"] for m in left}
    rerun = cli(cfg, "run")
    assert rerun.returncode in (0, 3), rerun.stderr
    latest = json.loads(cli(cfg, "runs", "-o", "json", "--limit", "1").stdout)[0]
    streams = json.loads(cli(cfg, "runs", "show", latest["run_id"], "-o", "json").stdout)["sources"]
    pulled = {s["stream"]: s["pulled"] for s in streams}
    assert pulled["events"] > 100, "the reset stream is re-read from the start"
    assert pulled["profiles"] < pulled["events"], "the others start from their marks"
    ws = Workspace(load_config(cfg))
    try:
        unified = [r.stages["unify"] for r in ws.runs.recent(3)]
    finally:
        ws.close()
    assert unified[0]["full"], "a reset re-resolves every identity"


def test_run_subsets(tmp_path: Path) -> None:
    cfg = write_config(
        tmp_path, '\n[destinations.second]\nplugin = "files"\npath = "out2"\n', engine="rfm"
    )
    write_demo_inputs(tmp_path / "data", shift=timedelta(0))
    first_typo = cli(cfg, "run", "--dry-run", "--destination", "export", "--segment", "rfm_hihg")
    assert first_typo.returncode == 3, first_typo.stdout + first_typo.stderr
    assert "--segment rfm_hihg: no such segment in this run" in " ".join(first_typo.stdout.split())
    first = cli(cfg, "run", "--destination", "export", "--segment", "rfm_high")
    assert first.returncode in (0, 3), first.stderr
    assert not (tmp_path / "out2").exists(), "the other destination was not touched"
    members = pd.read_csv(tmp_path / "out" / "memberships.csv", dtype=str)
    assert set(members["segment_id"]) == {"rfm_high"}
    second = cli(cfg, "run", "--destination", "export")
    assert second.returncode in (0, 3), second.stderr
    members = pd.read_csv(tmp_path / "out" / "memberships.csv", dtype=str)
    assert {"rfm_high", "rfm_low"} <= set(members["segment_id"])
    plan = cli(cfg, "plan", "--output", "json")
    assert plan.returncode == 0, plan.stderr
    planned = json.loads(plan.stdout)
    assert set(planned) == {"export", "second"}
    assert planned["second"]["counts"]["add"] > 0, "the untouched destination is still to do"
    people = [row["email"] for row in planned["second"]["sample"]]
    assert people
    assert all(e == "-" or "***@" in e for e in people), "people are named by masked email"
    typo = cli(cfg, "run", "--segment", "rfm_hihg")
    assert typo.returncode == 2
    assert "--segment: no segment 'rfm_hihg'" in typo.stderr
    unknown = cli(cfg, "run", "--source", "nope")
    assert unknown.returncode == 2
    assert "no source named 'nope' (known: shop)" in unknown.stderr


def test_a_plan_without_a_failed_sources_data_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`connector plan` with a source that cannot be reached: the plan is printed, each reason
    follows as a note, and the exit code is 3, as for a run (before: no note, exit 0)."""
    closed = (
        '\n[sources.crm]\nplugin = "hubspot"\naccess_token = { env = "UX_PLAN_TOKEN" }\n'
        'base_url = "http://127.0.0.1:9"\n'
    )
    cfg = write_config(tmp_path, closed, engine="rfm")
    write_demo_inputs(tmp_path / "data", shift=timedelta(0))
    monkeypatch.setenv("UX_PLAN_TOKEN", "pat-na1-plan-note-1")
    plan = cli(cfg, "plan")
    assert plan.returncode == 3, plan.stdout + plan.stderr
    assert "note: source crm" in " ".join(plan.stderr.split()), plan.stderr
    assert "export" in plan.stdout, "the plan of the data that was read is still shown"
