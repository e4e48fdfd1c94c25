"""Customer Match lists found or created through the Data Manager API's UserListService (v1.5),
the default route: no developer token, no Google Ads API call, against the emulator."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from ads_driver import Driver, admin, email_hash, people

from cdp_google_ads.datamanager_lists import display_name_filter
from cdp_google_ads.emulator import GoogleAdsEmulator
from connector.plugin.changes import SegmentRef
from connector.plugin.spec import PluginContext
from connector.testing.context import make_context

HIGH = SegmentRef("high_value", "High value")
RISK = SegmentRef("at_risk", "At risk")
QUOTED = SegmentRef("quoted", 'Bob\'s "VIP" \\ list" OR display_name = "x')
PARENT = "/v1/accountTypes/GOOGLE_ADS/accounts/1234567890/userLists"


@pytest.fixture
def make(google_sink: Any) -> Any:
    """A sink owning its lists through the default route (no developer token at all)."""

    def build(context: PluginContext | None = None, **overrides: object) -> Any:
        return google_sink(context, **{"user_lists": {}, "create_user_lists": True, **overrides})

    return build


def dm_lists(emu: GoogleAdsEmulator) -> dict[str, str]:
    """Display name -> id of the lists the emulator's UserListService holds."""
    lists = admin(emu.base_url, "state")["data_manager_user_lists"]
    return {v["displayName"]: k for k, v in lists.items()}


def members(emu: GoogleAdsEmulator, list_id: str) -> set[str]:
    return set(admin(emu.base_url, "state")["user_lists"].get(list_id, {}).get("emails", []))


def calls(emu: GoogleAdsEmulator, method: str | None = None) -> list[dict[str, Any]]:
    log = admin(emu.base_url, "requests", params={"body": 1})["requests"]
    return [
        r for r in log if r["path"].startswith(PARENT) and (method is None or r["method"] == method)
    ]


def granted(n: int, offset: int = 0) -> dict[str, Any]:
    return {k: p for k, p in people(n, offset=offset).items() if p.consent == "granted"}


def test_lists_created_through_user_list_service_and_reused(google_emulator, make) -> None:
    context = make_context(Path("unused"))
    high, risk = granted(30), granted(20, offset=100)
    assert Driver(make(context)).run({HIGH: high, RISK: risk}) == {"add:ok": len(high) + len(risk)}
    lists = dm_lists(google_emulator)
    assert set(lists) == {"Connector: High value", "Connector: At risk"}
    assert members(google_emulator, lists["Connector: High value"]) == {
        email_hash(p) for p in high.values()
    }
    assert members(google_emulator, lists["Connector: At risk"]) == {
        email_hash(p) for p in risk.values()
    }
    assert context.state.get("user_list:high_value") == lists["Connector: High value"]
    created = json.loads(calls(google_emulator, "POST")[0]["body"])
    assert created["ingestedUserListInfo"] == {
        "uploadKeyTypes": ["CONTACT_ID"],
        "contactIdInfo": {"dataSourceType": "DATA_SOURCE_TYPE_FIRST_PARTY"},
    }
    assert created["membershipDuration"] == f"{540 * 86400}s"
    state = admin(google_emulator.base_url, "state")
    assert state["ads_user_lists"] == {}  # the Google Ads API was never called
    log = admin(google_emulator.base_url, "requests", params={"headers": 1})["requests"]
    assert not [r for r in log if "/customers/" in r["path"]]

    # A second run with the same state: no list call at all, members land in the same list.
    before = len(calls(google_emulator))
    more = granted(10, offset=200)
    assert Driver(make(context)).run({HIGH: more}) == {"add:ok": len(more)}
    assert len(calls(google_emulator)) == before
    assert members(google_emulator, lists["Connector: High value"]) >= {
        email_hash(p) for p in more.values()
    }


def test_lost_state_finds_the_list_by_display_name(google_emulator, make) -> None:
    Driver(make()).run({HIGH: granted(10)})
    lists = dm_lists(google_emulator)
    later = granted(10, offset=300)
    fresh = make_context(Path("unused"))
    assert Driver(make(fresh)).run({HIGH: later}) == {"add:ok": len(later)}
    assert dm_lists(google_emulator) == lists  # found again, no duplicate
    assert len(calls(google_emulator, "POST")) == 1
    assert fresh.state.get("user_list:high_value") == lists["Connector: High value"]


def test_quotes_in_the_name_cannot_widen_the_filter(google_emulator, make) -> None:
    Driver(make()).run({QUOTED: granted(5)})
    name = "Connector: " + QUOTED.name
    assert set(dm_lists(google_emulator)) == {name}
    Driver(make(make_context(Path("unused")))).run({QUOTED: granted(5, offset=40)})
    assert set(dm_lists(google_emulator)) == {name}
    assert len(calls(google_emulator, "POST")) == 1
    listed = calls(google_emulator, "GET")[-1]
    assert display_name_filter(name) == (
        'display_name = "Connector: Bob\'s \\"VIP\\" \\\\ list\\" OR display_name = \\"x"'
    )
    assert listed["status"] == 200


def test_name_taken_between_list_and_create(google_emulator, make) -> None:
    """Another writer creates the list after our search: DISPLAY_NAME_ALREADY_USED, reuse."""
    make().lists.create("Connector: High value", "")
    admin(
        google_emulator.base_url,
        "faults",
        json={"rules": [{"path": PARENT, "method": "GET", "status": 200, "count": 1, "body": {}}]},
    )
    crowd = granted(8)
    assert Driver(make()).run({HIGH: crowd}) == {"add:ok": len(crowd)}
    lists = dm_lists(google_emulator)
    assert len(lists) == 1
    assert calls(google_emulator, "POST")[-1]["status"] == 400
    assert members(google_emulator, lists["Connector: High value"]) == {
        email_hash(p) for p in crowd.values()
    }


def test_emulator_user_list_service_get_update_delete(google_emulator, google_sink) -> None:
    sink = google_sink(user_lists={}, create_user_lists=True)
    list_id = sink.lists.create("Connector: Lapsed", "old description")
    token = sink.tokens.token()
    url = f"{google_emulator.base_url}{PARENT}/{list_id}"
    auth = {"Authorization": f"Bearer {token}"}
    got = httpx.get(url, headers=auth).json()
    assert got["name"].endswith(f"/userLists/{list_id}")
    assert got["id"] == list_id
    patched = httpx.patch(
        url, params={"updateMask": "description"}, headers=auth, json={"description": "new"}
    )
    assert patched.json()["description"] == "new"
    immutable = httpx.patch(url, params={"updateMask": "id"}, headers=auth, json={"id": "1"})
    assert immutable.status_code == 400
    assert httpx.delete(url, headers=auth).json() == {}
    assert httpx.get(url, headers=auth).status_code == 404
    assert list_id not in admin(google_emulator.base_url, "state")["user_lists"]
    too_long = httpx.post(
        f"{google_emulator.base_url}{PARENT}",
        headers=auth,
        json={
            "displayName": "x",
            "membershipDuration": f"{541 * 86400}s",
            "ingestedUserListInfo": {"uploadKeyTypes": ["CONTACT_ID"]},
        },
    )
    assert too_long.json()["error"]["details"][0]["reason"] == "MEMBERSHIP_DURATION_TOO_LONG"


def test_official_client_speaks_to_the_emulator(google_emulator, google_sink) -> None:
    """Where google-ads-datamanager is installed, its REST transport drives the emulator."""
    dm = pytest.importorskip("google.ads.datamanager_v1")
    from google.api_core.client_options import ClientOptions
    from google.oauth2.credentials import Credentials

    token = google_sink(user_lists={}).tokens.token()
    client = dm.UserListServiceClient(
        credentials=Credentials(token),
        transport="rest",
        client_options=ClientOptions(api_endpoint=google_emulator.base_url),
    )
    parent = PARENT.removeprefix("/v1/").removesuffix("/userLists")
    info = dm.IngestedUserListInfo(
        upload_key_types=[dm.IngestedUserListInfo.UploadKeyType.CONTACT_ID]
    )
    created = client.create_user_list(
        parent=parent, user_list=dm.UserList(display_name="SDK list", ingested_user_list_info=info)
    )
    assert [u.id for u in client.list_user_lists(parent=parent)] == [created.id]
    client.delete_user_list(name=created.name)
    assert list(client.list_user_lists(parent=parent)) == []
