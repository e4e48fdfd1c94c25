"""Our own writes do not come back as changes: after a run that wrote traits to HubSpot and
Klaviyo, a second run with no upstream change finds no changed record there (both platforms
re-date what we wrote, so both re-read it), while a real edit upstream is still seen."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
from tests.conftest import write_config

from cdp_hubspot.emulator import HubSpotEmulator
from cdp_klaviyo.emulator import KlaviyoEmulator
from connector.config import load_config
from connector.pipeline import Workspace, run_pipeline
from connector.pipeline.runner import RunSummary
from connector.plugin.spec import EmulatorOptions

TOKEN = "pat-na1-echo-1"
KEY = "pk_echo_1"
PEOPLE = [
    {"email": f"person{i}@example.org", "first_name": f"P{i}", "email_consent": "granted"}
    for i in range(40)
]


def _run(cfg: Path) -> RunSummary:
    ws = Workspace(load_config(cfg, env={"HUBSPOT_TOKEN": TOKEN, "KLAVIYO_KEY": KEY}))
    try:
        return run_pipeline(ws)
    finally:
        ws.close()


def _changed(summary: RunSummary, source: str, stream: str) -> tuple[int, int]:
    """(records read, records that said something new) for one stream of a run."""
    stats: dict[str, Any] = summary.stages["pull"][source]["streams"][stream]
    return stats["pulled"], stats["pulled"] - stats["unchanged"]


def test_a_second_run_reads_back_no_change_of_ours(tmp_path: Path) -> None:
    with (
        HubSpotEmulator(EmulatorOptions(limits="off", seed=4)) as hub,
        KlaviyoEmulator(EmulatorOptions(limits="off", seed=4)) as kla,
    ):
        for emu in (hub, kla):
            httpx.post(f"{emu.base_url}/__emulator__/seed", json={"people": PEOPLE})
        cfg = write_config(
            tmp_path,
            f"""
[sources.crm]
plugin = "hubspot"
access_token = {{ env = "HUBSPOT_TOKEN" }}
base_url = "{hub.base_url}"

[sources.esp]
plugin = "klaviyo"
api_key = {{ env = "KLAVIYO_KEY" }}
base_url = "{kla.base_url}"

[destinations.hubspot_out]
plugin = "hubspot"
access_token = {{ env = "HUBSPOT_TOKEN" }}
base_url = "{hub.base_url}"
segments = []

[destinations.klaviyo_out]
plugin = "klaviyo"
api_key = {{ env = "KLAVIYO_KEY" }}
base_url = "{kla.base_url}"
poll_interval = 0.05
segments = []
""",
        )
        orders = [
            {
                "source_event_id": f"o{i}",
                "type": "order_completed",
                "email": p["email"],
                "occurred_at": f"2011-{1 + i % 11:02d}-10T10:00:00Z",
                "revenue": 5 + i,
            }
            for i, p in enumerate(PEOPLE)
        ]
        (tmp_path / "data" / "events" / "orders.jsonl").write_text(
            "".join(json.dumps(o) + "\n" for o in orders)
        )
        first = _run(cfg)
        assert first.failures == [], first.failures
        assert first.counts["applied"] >= 2 * len(PEOPLE), "traits written to both platforms"

        second = _run(cfg)
        read_hub, changed_hub = _changed(second, "crm", "contacts")
        read_kla, changed_kla = _changed(second, "esp", "profiles")
        assert min(read_hub, read_kla) >= len(PEOPLE), "our writes re-dated them: both re-read"
        assert (changed_hub, changed_kla) == (0, 0)
        assert second.counts["planned"] == 0

        contacts = httpx.get(f"{hub.base_url}/__emulator__/state").json()["contacts"]
        rid = next(iter(sorted(contacts)))
        edited = httpx.post(
            f"{hub.base_url}/crm/v3/objects/contacts/batch/update",
            json={"inputs": [{"id": rid, "properties": {"firstname": "Renamed"}}]},
            headers={"Authorization": f"Bearer {TOKEN}"},
        )
        assert edited.is_success, edited.text
        third = _run(cfg)
        assert _changed(third, "crm", "contacts")[1] == 1, "a real upstream edit is still read"
