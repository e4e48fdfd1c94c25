"""A whole run pushing to HubSpot through the runner, with 5xx and a 429 storm injected and one
contact HubSpot refuses: the end state equals the desired state and that contact is the only
reject, with HubSpot's reason, in `connector runs show`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pandas as pd
from tests.conftest import write_config

from cdp_hubspot.emulator import HubSpotEmulator
from connector.plugin.spec import EmulatorOptions
from connector.state import RunStore, StateStore

TOKEN = "pat-na1-e2e-token-7"
REFUSED = "person7@example.org"


def test_faults_and_one_refused_contact(tmp_path: Path) -> None:
    people = [
        {
            "source_id": f"c{i}",
            "email": f"person{i}@example.org",
            "updated_at": "2011-11-01T00:00:00Z",
            "consent": {"email": "granted"},
        }
        for i in range(300)
    ]
    orders = [
        {
            "source_event_id": f"o{i}",
            "type": "order_completed",
            "email": f"person{i}@example.org",
            "occurred_at": f"2011-{1 + i % 11:02d}-10T10:00:00Z",
            "revenue": 5 + i % 97,
        }
        for i in range(0, 300, 2)
    ]
    with HubSpotEmulator(EmulatorOptions(limits="real", seed=5)) as hub:
        httpx.post(f"{hub.base_url}/__emulator__/seed", json={"invalid_emails": [REFUSED]})
        httpx.post(
            f"{hub.base_url}/__emulator__/faults",
            json={
                "rules": [
                    {"path": "/crm/v3/*", "method": "POST", "status": 503, "rate": 0.1},
                    {"path": "/crm/v3/lists/*", "status": 429, "count": 6},
                    {"path": "/crm/v3/objects/contacts/batch/*", "status": 429, "count": 6},
                ]
            },
        )
        cfg = write_config(
            tmp_path,
            f"""
[destinations.hubspot]
plugin = "hubspot"
access_token = {{ env = "HUBSPOT_TOKEN" }}
base_url = "{hub.base_url}"
segments = ["rfm_high", "rfm_low"]
retry_base_seconds = 0.05
""",
        )
        (tmp_path / "data" / "profiles" / "people.jsonl").write_text(
            "".join(json.dumps(p) + "\n" for p in people)
        )
        (tmp_path / "data" / "events" / "orders.jsonl").write_text(
            "".join(json.dumps(o) + "\n" for o in orders)
        )
        env = {**os.environ, "HUBSPOT_TOKEN": TOKEN, "COLUMNS": "250"}
        hub.revoked_tokens.discard(TOKEN)
        run = subprocess.run(
            [sys.executable, "-m", "connector", "run", "--config", str(cfg)],
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
            env=env,
        )
        assert run.returncode == 3, run.stdout + run.stderr  # completed with one reject
        state = httpx.get(f"{hub.base_url}/__emulator__/state").json()

    traits = pd.read_csv(tmp_path / "out" / "traits.csv", dtype=str).set_index("email")
    contacts = {c["email"]: c for c in state["contacts"].values()}
    assert REFUSED not in contacts
    assert set(contacts) == set(traits.index) - {REFUSED}
    for email, row in traits.iterrows():
        if email == REFUSED:
            continue
        assert contacts[email]["rfm_tier"] == row["rfm_tier"], email
    by_name = {lst["name"]: set(lst["members"]) for lst in state["lists"]}
    members = pd.read_csv(tmp_path / "out" / "memberships.csv", dtype=str)
    ids = {c["email"]: rid for rid, c in state["contacts"].items()}
    for seg, name in (("rfm_high", "CDP: High value"), ("rfm_low", "CDP: Low value")):
        want = {ids[e] for e in members[members["segment_id"] == seg]["email"] if e != REFUSED}
        assert by_name[name] == want, seg

    run_id = next(line.split()[-1] for line in run.stdout.splitlines() if "runs show" in line)
    shown = subprocess.run(
        [sys.executable, "-m", "connector", "runs", "show", run_id, "--config", str(cfg)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env=env,
    )
    rejects = [
        line
        for line in shown.stdout.splitlines()
        # the reason may wrap in the table: its first line names the field
        if "hubspot" in line and "email address" in line.lower()
    ]
    assert len(rejects) == 1, shown.stdout
    assert "Email address" in rejects[0]
    assert REFUSED not in shown.stdout, "the reason is shown without the raw address"
    store = StateStore.for_workspace(tmp_path / ".connector")
    try:
        errors = RunStore(store).errors(run_id)
    finally:
        store.close()
    rejected = [e for e in errors if not e.retryable]
    assert len(rejected) == 1, rejected
    assert rejected[0].plugin == "hubspot"
    assert "Email address [email] is invalid" in rejected[0].reason
