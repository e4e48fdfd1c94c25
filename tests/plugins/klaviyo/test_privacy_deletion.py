"""Klaviyo's Request Profile Deletion through the official SDK against the emulator."""

from __future__ import annotations

import httpx

from cdp_klaviyo import KlaviyoSettings
from cdp_klaviyo.emulator import KlaviyoEmulator
from cdp_klaviyo.sink import KlaviyoSink
from connector.plugin.changes import OutcomeStatus, Recipient
from connector.plugin.spec import PluginContext


def test_erase_deletes_the_profile_when_turned_on(
    emulator: KlaviyoEmulator, settings: KlaviyoSettings, ctx: PluginContext
) -> None:
    known = next(iter(emulator.store.profiles.values()))
    people = [
        Recipient("p1", email=known["email"]),
        Recipient("p2", email="nobody@example.org"),
    ]
    off = KlaviyoSink(settings, ctx)
    assert [o.status for o in off.erase(people)] == [OutcomeStatus.OK] * 2
    assert emulator.snapshot()["privacy_deletions"] == [], "off by default: nothing sent"

    on = KlaviyoSink(settings.model_copy(update={"privacy_deletion": True}), ctx)
    assert [o.status for o in on.erase(people)] == [OutcomeStatus.OK] * 2
    jobs = emulator.snapshot()["privacy_deletions"]
    assert [(j["by"], j["deleted"]) for j in jobs] == [("email", 1), ("email", 0)]
    assert known["id"] not in emulator.store.profiles


def test_the_emulator_refuses_a_job_naming_two_identifiers(emulator: KlaviyoEmulator) -> None:
    attrs = {"email": "a@example.org", "phone_number": "+14155550100"}
    body = {
        "data": {
            "type": "data-privacy-deletion-job",
            "attributes": {"profile": {"data": {"type": "profile", "attributes": attrs}}},
        }
    }
    resp = httpx.post(
        f"{emulator.base_url}/api/data-privacy-deletion-jobs",
        json=body,
        headers={"Authorization": "Klaviyo-API-Key pk_test", "revision": "2026-10-15"},
    )
    assert resp.status_code == 400
    assert "Exactly one of" in resp.text
