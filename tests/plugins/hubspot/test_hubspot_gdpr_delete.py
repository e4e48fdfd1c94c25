"""HubSpot's GDPR delete through the official SDK against the emulator."""

from __future__ import annotations

from pathlib import Path

import httpx
from tests.plugins.hubspot.hubspot_helpers import TOKEN, apply_all, settings_for, upsert

from cdp_hubspot.emulator import HubSpotEmulator
from cdp_hubspot.sink import HubSpotSink
from connector.plugin.changes import OutcomeStatus, Recipient
from connector.testing.context import make_context


def test_erase_gdpr_deletes_the_contact_when_turned_on(
    emulator: HubSpotEmulator, tmp_path: Path
) -> None:
    ctx = make_context(tmp_path)
    sink = HubSpotSink(settings_for(emulator), ctx)
    sink.prepare([], [])
    assert {o.status for o in apply_all(sink, [upsert("p1", "gone@example.org", {})])} == {
        OutcomeStatus.OK
    }
    people = [Recipient("p1", email="gone@example.org"), Recipient("p2", email="no@example.org")]
    assert [o.status for o in sink.erase(people)] == [OutcomeStatus.OK] * 2
    assert emulator.snapshot()["gdpr_deletions"] == [], "off by default: nothing sent"

    on = HubSpotSink(settings_for(emulator, gdpr_delete=True), ctx)
    assert [o.status for o in on.erase(people)] == [OutcomeStatus.OK] * 2
    state = emulator.snapshot()
    assert [(d["deleted"], d["blocklisted"]) for d in state["gdpr_deletions"]] == [(1, 0), (0, 1)]
    assert all(c.get("email") != "gone@example.org" for c in state["contacts"].values())


def test_the_emulator_refuses_a_delete_without_object_id(emulator: HubSpotEmulator) -> None:
    resp = httpx.post(
        f"{emulator.base_url}/crm/v3/objects/contacts/gdpr-delete",
        json={"idProperty": "email"},
        headers={"Authorization": f"Bearer {TOKEN}"},
    )
    assert resp.status_code == 400
