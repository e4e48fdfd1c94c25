"""The Google sink finds or creates its own Customer Match lists through the Google Ads API route
(``user_list_api = "google_ads"``), against the emulator; the default Data Manager route is
covered in test_google_datamanager_lists.py."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from ads_driver import Driver, admin, email_hash, people
from pydantic import ValidationError

from cdp_google_ads import SPEC
from cdp_google_ads.emulator import GoogleAdsEmulator
from connector.errors import AuthError
from connector.plugin.changes import SegmentRef
from connector.plugin.spec import PluginContext
from connector.testing.context import make_context

HIGH = SegmentRef("high_value", "High value")
RISK = SegmentRef("at_risk", "At risk")
QUOTED = SegmentRef("quoted", "Bob's \"VIP\" \\ list' OR user_list.name = 'x")


@pytest.fixture
def make(google_emulator: GoogleAdsEmulator, google_sink: Any) -> Any:
    """A sink owning its lists (no user_lists mapping); pass ``context`` to share state."""

    def build(context: PluginContext | None = None, **overrides: object) -> Any:
        owning = {
            "user_lists": {},
            "create_user_lists": True,
            "user_list_api": "google_ads",
            "developer_token": GoogleAdsEmulator.developer_token,
            "ads_api_url": google_emulator.base_url,
        }
        return google_sink(context, **{**owning, **overrides})

    return build


def state(emu: GoogleAdsEmulator) -> dict[str, Any]:
    return admin(emu.base_url, "state")


def lists_by_name(emu: GoogleAdsEmulator) -> dict[str, str]:
    return {v["name"]: k for k, v in state(emu)["ads_user_lists"].items()}


def members(emu: GoogleAdsEmulator, list_id: str) -> set[str]:
    return set(state(emu)["user_lists"].get(list_id, {}).get("emails", []))


def ads_calls(emu: GoogleAdsEmulator, suffix: str) -> list[dict[str, Any]]:
    log = admin(emu.base_url, "requests", params={"body": 1})["requests"]
    return [r for r in log if r["path"].endswith(suffix)]


def granted(n: int, offset: int = 0) -> dict[str, Any]:
    return {k: p for k, p in people(n, offset=offset).items() if p.consent == "granted"}


def test_first_run_creates_lists_later_runs_reuse_them(google_emulator, make) -> None:
    context = make_context(Path("unused"))
    high, risk = granted(30), granted(20, offset=100)
    assert Driver(make(context)).run({HIGH: high, RISK: risk}) == {"add:ok": len(high) + len(risk)}
    lists = lists_by_name(google_emulator)
    assert set(lists) == {"Connector: High value", "Connector: At risk"}
    high_id, risk_id = lists["Connector: High value"], lists["Connector: At risk"]
    assert members(google_emulator, high_id) == {email_hash(p) for p in high.values()}
    assert members(google_emulator, risk_id) == {email_hash(p) for p in risk.values()}
    assert context.state.get("user_list:high_value") == high_id
    created = json.loads(ads_calls(google_emulator, "userLists:mutate")[0]["body"])
    assert created["operations"][0]["create"]["crmBasedUserList"] == {
        "uploadKeyType": "CONTACT_INFO",
        "dataSourceType": "FIRST_PARTY",
    }
    assert created["operations"][0]["create"]["membershipLifeSpan"] == "540"

    # Second run, same plugin state: no search, no create, new members land in the same list.
    searches, mutates = (len(ads_calls(google_emulator, s)) for s in (":search", ":mutate"))
    more = granted(10, offset=200)
    assert Driver(make(context)).run({HIGH: more}) == {"add:ok": len(more)}
    assert len(ads_calls(google_emulator, ":search")) == searches
    assert len(ads_calls(google_emulator, ":mutate")) == mutates
    assert lists_by_name(google_emulator) == lists
    assert members(google_emulator, high_id) >= {email_hash(p) for p in more.values()}


def test_lost_state_finds_lists_by_name(google_emulator, make) -> None:
    Driver(make()).run({HIGH: granted(10)})
    lists = lists_by_name(google_emulator)
    mutates = len(ads_calls(google_emulator, ":mutate"))
    fresh = make_context(Path("unused"))  # a new workspace: the remembered id is gone
    later = granted(10, offset=300)
    assert Driver(make(fresh)).run({HIGH: later}) == {"add:ok": len(later)}
    assert lists_by_name(google_emulator) == lists  # no duplicate
    assert len(ads_calls(google_emulator, ":mutate")) == mutates
    assert fresh.state.get("user_list:high_value") == lists["Connector: High value"]
    assert members(google_emulator, lists["Connector: High value"]) >= {
        email_hash(p) for p in later.values()
    }


def test_explicit_mapping_wins(google_emulator, make) -> None:
    high, risk = granted(10), granted(10, offset=50)
    Driver(make(user_lists={"high_value": "9001"})).run({HIGH: high, RISK: risk})
    assert set(lists_by_name(google_emulator)) == {"Connector: At risk"}
    assert members(google_emulator, "9001") == {email_hash(p) for p in high.values()}


def test_quotes_in_segment_name_are_escaped(google_emulator, make) -> None:
    crowd = granted(5)
    Driver(make()).run({QUOTED: crowd})
    name = "Connector: " + QUOTED.name
    assert set(lists_by_name(google_emulator)) == {name}
    # Lost state: the escaped literal must match exactly this name again, not create a second.
    Driver(make(make_context(Path("unused")))).run({QUOTED: granted(5, offset=40)})
    assert set(lists_by_name(google_emulator)) == {name}
    assert len(ads_calls(google_emulator, ":mutate")) == 1
    query = json.loads(ads_calls(google_emulator, ":search")[-1]["body"])["query"]
    assert "= 'Connector: Bob\\'s \"VIP\" \\\\ list\\' OR user_list.name = \\'x'" in query


def test_off_keeps_manual_mapping_only(google_emulator, make) -> None:
    crowd = granted(5)
    run = Driver(make(create_user_lists=False, user_lists={})).run({HIGH: crowd})
    assert run == {"add:rejected": len(crowd)}
    assert state(google_emulator)["ads_user_lists"] == {}
    assert ads_calls(google_emulator, ":search") == []


def test_settings_validation() -> None:
    base = {
        "operating_account_id": "1",
        "client_id": "c",
        "client_secret": "s",
        "refresh_token": "r",
        "create_user_lists": True,
        "user_list_api": "google_ads",
    }
    with pytest.raises(ValidationError, match="developer_token"):
        SPEC.settings_model.model_validate(base)
    default = SPEC.settings_model.model_validate({**base, "user_list_api": "data_manager"})
    assert default.scopes == ["https://www.googleapis.com/auth/datamanager"]
    with pytest.raises(ValidationError, match="membership_life_span_days"):
        SPEC.settings_model.model_validate(
            {**base, "developer_token": "d", "membership_life_span_days": 600}
        )
    ok = SPEC.settings_model.model_validate(
        {**base, "developer_token": "d", "membership_life_span_days": 10000}
    )
    assert "adwords" in " ".join(ok.scopes)
    assert "developer_token" in SPEC.secret_fields


def test_503_on_create_is_retried(google_emulator, make) -> None:
    admin(
        google_emulator.base_url,
        "faults",
        json={"rules": [{"path": "*/userLists:mutate", "status": 503, "count": 2}]},
    )
    crowd = granted(10)
    assert Driver(make()).run({HIGH: crowd}) == {"add:ok": len(crowd)}
    (list_id,) = lists_by_name(google_emulator).values()
    assert members(google_emulator, list_id) == {email_hash(p) for p in crowd.values()}


def test_name_taken_between_search_and_create(google_emulator, make) -> None:
    """Another writer creates the list after our search: our create gets NAME_ALREADY_USED."""
    other = make()
    other.lists.create("Connector: High value", "")  # the other writer's list
    # Our first search runs "before" theirs landed: it sees nothing.
    admin(
        google_emulator.base_url,
        "faults",
        json={"rules": [{"path": "*/googleAds:search", "status": 200, "count": 1, "body": {}}]},
    )
    crowd = granted(8)
    assert Driver(make()).run({HIGH: crowd}) == {"add:ok": len(crowd)}
    lists = lists_by_name(google_emulator)
    assert len(lists) == 1
    assert members(google_emulator, lists["Connector: High value"]) == {
        email_hash(p) for p in crowd.values()
    }
    refused = ads_calls(google_emulator, ":mutate")[-1]
    assert refused["status"] == 400


def test_refused_create_rejects_only_that_segment(google_emulator, make) -> None:
    failure = {
        "error": {
            "code": 400,
            "status": "INVALID_ARGUMENT",
            "message": "Request contains an invalid argument.",
            "details": [
                {
                    "@type": "type.googleapis.com/google.ads.googleads.v26.errors.GoogleAdsFailure",
                    "errors": [
                        {
                            "errorCode": {"userListError": "ADVERTISER_TOS_NOT_ACCEPTED"},
                            "message": "The advertiser must accept the Terms of Service.",
                        }
                    ],
                }
            ],
        }
    }
    admin(
        google_emulator.base_url,
        "faults",
        json={
            "rules": [{"path": "*/userLists:mutate", "status": 400, "count": 1, "body": failure}]
        },
    )
    high, risk = granted(6), granted(6, offset=60)
    driver = Driver(make())
    assert driver.run({HIGH: high, RISK: risk}) == {
        "add:rejected": len(high),
        "add:ok": len(risk),
    }
    assert "ADVERTISER_TOS_NOT_ACCEPTED" in driver.rejected[next(iter(high))]
    assert set(lists_by_name(google_emulator)) == {"Connector: At risk"}


def test_wrong_developer_token_is_auth_error(make) -> None:
    sink = make(developer_token="nope")
    with pytest.raises(AuthError):
        sink.prepare([], [HIGH])


def test_service_account_asks_for_the_ads_scope(google_emulator, make, service_account) -> None:
    sink = make(**service_account)
    crowd = granted(5)
    assert Driver(sink).run({HIGH: crowd}) == {"add:ok": len(crowd)}
    assert set(lists_by_name(google_emulator)) == {"Connector: High value"}
