"""Two people merged at HubSpot, each with a Klaviyo profile our import made: the person is on
each Klaviyo list once, not mailed at both addresses.

HubSpot in, Klaviyo out; the merge goes through HubSpot's merge route and the outcome is read
from the Klaviyo emulator's state. Klaviyo keeps the two profiles (its own records; it merges
only its own), so before, the merged-away person's membership was handed to the survivor and
left on the list through the other profile, next to the survivor's.
"""

from __future__ import annotations

from pathlib import Path

import httpx
from tests.conftest import write_config
from tests.e2e.test_address_change import (
    _ENV,
    _TIERS,
    Emulator,
    _by_email,
    _lists_of,
    _run,
    _state,
    _table,
)
from tests.e2e.test_pipeline import _jsonl

from cdp_hubspot.emulator import HubSpotEmulator
from cdp_klaviyo.emulator import KlaviyoEmulator
from connector.plugin.spec import EmulatorOptions
from connector.testing.platform import admin

# one and three orders in turn: the people with three are the high tier, and so are two of
# them merged
_PEOPLE = [{"email": f"person{i}@example.org", "email_consent": "granted"} for i in range(20)]
A, B = "person19@example.org", "person17@example.org"


def people_with_orders(tmp_path: Path, hub: HubSpotEmulator, out: Emulator) -> Path:
    """HubSpot seeded with ``_PEOPLE`` as the source, their orders as files, the value tiers
    sent to ``out``: the config, before any run."""
    admin(hub, "POST", "seed", {"people": _PEOPLE})
    dest = _table("destinations.out", out, segments=_TIERS) + 'consent_policy = "not_denied"\n'
    cfg = write_config(tmp_path, "\n" + _table("sources.crm", hub) + "\n" + dest)
    orders = [
        {"source_event_id": f"o{i}-{k}", "type": "order_completed", "email": p["email"],
         "occurred_at": f"2011-{1 + (i + k) % 11:02d}-10T10:00:00Z", "revenue": 5 + i}
        for i, p in enumerate(_PEOPLE) for k in range(1 + 2 * (i % 2))
    ]  # fmt: skip
    _jsonl(tmp_path / "data/events/orders.jsonl", orders)
    return cfg


def test_two_people_merged_at_hubspot_stay_on_each_klaviyo_list_once(tmp_path: Path) -> None:
    options = EmulatorOptions(limits="off", seed=4, seed_profiles=0)
    with HubSpotEmulator(options) as hub, KlaviyoEmulator(options) as kla:
        cfg = people_with_orders(tmp_path, hub, kla)
        _run(cfg)
        before = _state(kla)
        [(ka, _)], [(kb, _)] = _by_email(before["profiles"], A), _by_email(before["profiles"], B)
        lists = before["lists"].values()
        assert _lists_of(lists, ka) == _lists_of(lists, kb) == ["CDP: High value"]
        contacts = _state(hub)["contacts"]
        [(ra, _)], [(rb, _)] = _by_email(contacts, A), _by_email(contacts, B)
        merged = httpx.post(
            f"{hub.base_url}/crm/v3/objects/contacts/merge",
            json={"primaryObjectId": rb, "objectIdToMerge": ra},
            headers={"Authorization": f"Bearer {_ENV['HUBSPOT_TOKEN']}"},
        )
        assert merged.is_success, merged.text

        _run(cfg)

        after = _state(kla)
        held = {k: _lists_of(after["lists"].values(), k) for k in (ka, kb)}
        assert sorted(held.values()) == [[], ["CDP: High value"]]  # one profile, on the list once
        [apart] = [k for k, names in held.items() if not names]
        assert after["profiles"][apart]["properties"] == {}  # its traits were taken back
        assert len(after["profiles"]) == len(before["profiles"])  # nothing was deleted
        assert _run(cfg).counts["planned"] == 0
