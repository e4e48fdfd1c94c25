"""Meta Custom Audiences sink against the emulator, driven through the official SDK."""

from __future__ import annotations

import logging
from datetime import date

import pytest
from ads_driver import Driver, admin, email_hash, people, raw_identifier_leaks, sha
from facebook_business.adobjects.adaccount import AdAccount
from facebook_business.adobjects.customaudience import CustomAudience
from facebook_business.api import FacebookAdsApi
from facebook_business.exceptions import FacebookRequestError

from cdp_meta.emulator import MetaEmulator
from cdp_meta.lint import lint_audience_name
from cdp_meta.versions import DEFAULT_VERSION, EXPIRES, expired, expiry_warning
from connector.errors import AuthError, ConfigError
from connector.plugin.changes import Change, ChangeKind, OutcomeStatus, Recipient, SegmentRef

SEGMENTS = [SegmentRef("high_value", "High value"), SegmentRef("at_risk", "At risk")]


def members_of(state: dict, name: str) -> set[str]:  # type: ignore[type-arg]
    audience = next(a for a in state["audiences"].values() if a["name"] == name)
    return {m["EMAIL"] for m in audience["members"]}


def test_audience_created_once_and_found_by_name(meta_emulator, meta_sink) -> None:
    sink = meta_sink()
    sink.prepare([], SEGMENTS)
    first = dict(sink.audience_ids)
    fresh = meta_sink()  # new context: state lost, must find by name, not create again
    fresh.prepare([], SEGMENTS)
    assert fresh.audience_ids == first
    assert len(admin(meta_emulator.base_url, "state")["audiences"]) == 2


def test_sync_add_remove_consent_and_no_raw_identifiers(meta_emulator, meta_sink) -> None:
    crowd = people(400)
    seg = {
        SEGMENTS[0]: dict(list(crowd.items())[:300]),
        SEGMENTS[1]: dict(list(crowd.items())[100:]),
    }
    driver = Driver(meta_sink())
    driver.run(seg)
    state = admin(meta_emulator.base_url, "state")
    for segment, members in seg.items():
        expected = {email_hash(p) for p in members.values() if p.consent == "granted"}
        assert members_of(state, segment.name) == expected
    # 2% leave, 1% revoke consent, some join.
    high = seg[SEGMENTS[0]]
    leavers = list(high)[:6]
    revokers = list(high)[10:13]
    for pid in leavers:
        del high[pid]
    for pid in revokers:
        high[pid].consent = "denied"
    newcomers = people(5, offset=1000)
    for p in newcomers.values():
        p.consent = "granted"
    high.update(newcomers)
    before = len(admin(meta_emulator.base_url, "requests")["requests"])
    run = driver.run(seg)
    granted_gone = [p for p in leavers if crowd[p].consent == "granted"] + revokers
    assert run["remove:ok"] == len(granted_gone)
    assert run["add:ok"] == 5
    state = admin(meta_emulator.base_url, "state")
    assert members_of(state, "High value") == {
        email_hash(p) for p in high.values() if p.consent == "granted"
    }
    writes = [
        r
        for r in admin(meta_emulator.base_url, "requests")["requests"][before:]
        if "/users" in r["path"]
    ]
    assert [r["method"] for r in writes] == ["DELETE", "POST"]
    # A run with no changes sends no membership request.
    before = len(admin(meta_emulator.base_url, "requests")["requests"])
    assert driver.run(seg) == {}
    after = admin(meta_emulator.base_url, "requests")["requests"][before:]
    assert not [r for r in after if "/users" in r["path"]]
    log = admin(meta_emulator.base_url, "requests", params={"body": 1})["requests"]
    texts = [(r.get("body") or "") + str(r["query"].get("payload", "")) for r in log]
    assert raw_identifier_leaks(texts) == []


def test_transient_codes_retried(meta_emulator, meta_sink) -> None:
    transient = [
        {
            "path": "*/users",
            "status": 500,
            "count": 1,
            "body": {
                "error": {"message": "x", "type": "OAuthException", "code": 2, "is_transient": True}
            },
        },
        {
            "path": "*/users",
            "status": 400,
            "count": 1,
            "body": {
                "error": {
                    "message": "x",
                    "type": "OAuthException",
                    "code": 17,
                    "error_subcode": 2446079,
                }
            },
        },
        {"path": "*/users", "status": 502, "kind": "html", "count": 1},
    ]
    admin(meta_emulator.base_url, "faults", json={"rules": transient})
    crowd = {k: p for k, p in people(50).items() if p.consent == "granted"}
    sink = meta_sink()
    run = Driver(sink).run({SEGMENTS[0]: crowd})
    assert run == {"add:ok": len(crowd)}
    state = admin(meta_emulator.base_url, "state")
    assert members_of(state, "High value") == {email_hash(p) for p in crowd.values()}
    fired = [r["fired"] for r in admin(meta_emulator.base_url, "faults")["rules"]]
    assert fired == [1, 1, 1]


def test_malformed_row_rejected_alone(meta_sink, meta_emulator) -> None:
    crowd = {k: p for k, p in people(20).items() if p.consent == "granted"}
    bad = Recipient("bad", email="not an email", phone="12", match={"first_name": "..."})
    sink = meta_sink()
    sink.prepare([], SEGMENTS[:1])
    changes = [
        Change(ChangeKind.ADD, p.recipient, f"k{pid}", "d", segment=SEGMENTS[0])
        for pid, p in crowd.items()
    ]
    changes.insert(3, Change(ChangeKind.ADD, bad, "kbad", "d", segment=SEGMENTS[0]))
    outcomes = sink.apply(changes)
    assert [o.status for o in outcomes].count(OutcomeStatus.REJECTED) == 1
    assert outcomes[3].status is OutcomeStatus.REJECTED
    assert "no hashable identifier" in outcomes[3].reason
    assert "not an email" not in outcomes[3].reason
    assert len(members_of(admin(meta_emulator.base_url, "state"), "High value")) == len(crowd)


def test_invalid_row_reported_by_platform_is_isolated(meta_sink, meta_emulator) -> None:
    """The emulator counts a non-hex EMAIL as invalid; bisection pins it on one change."""
    sink = meta_sink(match_keys=("EMAIL",))
    sink.prepare([], SEGMENTS[:1])
    good = [Recipient(f"g{i}", email=f"g{i}@x.io") for i in range(9)]
    changes = [Change(ChangeKind.ADD, r, r.profile_id, "d", segment=SEGMENTS[0]) for r in good]
    original = sink._row_for
    sink._row_for = lambda r, t, s: ("zz",) if r.profile_id == "g4" else original(r, t, s)
    outcomes = sink.apply(changes)
    assert [o.status.value for o in outcomes].count("rejected") == 1
    assert outcomes[4].status is OutcomeStatus.REJECTED


def test_removals_fit_the_url(meta_sink, meta_emulator) -> None:
    crowd = {k: p for k, p in people(1500).items() if p.consent == "granted"}
    driver = Driver(meta_sink())
    driver.run({SEGMENTS[0]: crowd})
    run = driver.run({SEGMENTS[0]: {}})
    assert run == {"remove:ok": len(crowd)}
    assert members_of(admin(meta_emulator.base_url, "state"), "High value") == set()
    deletes = [
        r for r in admin(meta_emulator.base_url, "requests")["requests"] if r["method"] == "DELETE"
    ]
    assert all(r["status"] == 200 for r in deletes)
    assert len(deletes) > 2  # 1,500 eight-key rows cannot share one URL


def test_bad_token_raises_auth_error(meta_sink) -> None:
    sink = meta_sink(access_token="wrong")
    with pytest.raises(AuthError):
        sink.prepare([], SEGMENTS)


def test_value_based_audience_and_match_rate(meta_sink, meta_emulator) -> None:
    crowd = {k: p for k, p in people(100).items() if p.consent == "granted"}
    matched = [email_hash(p) for p in list(crowd.values())[:40]]
    admin(meta_emulator.base_url, "seed", json={"platform_users": {"EMAIL": matched}})
    sink = meta_sink(value_trait="clv")
    Driver(sink).run({SEGMENTS[0]: crowd})
    state = admin(meta_emulator.base_url, "state")
    audience = next(iter(state["audiences"].values()))
    assert audience["is_value_based"]
    values = {m["LOOKALIKE_VALUE"] for m in audience["members"]}
    assert f"{next(iter(crowd.values())).clv:.2f}" in values
    assert sink.last_match_rates["high_value"] == pytest.approx(40 / len(crowd))


def test_full_replace_through_usersreplace(meta_sink, meta_emulator) -> None:
    crowd = {k: p for k, p in people(60).items() if p.consent == "granted"}
    sink = meta_sink(add_batch_size=25)
    Driver(sink).run({SEGMENTS[0]: crowd})
    keep = list(crowd.values())[:30]
    nobody = Recipient("nobody")  # nothing hashable: refused alone, the rest replaces
    members = [
        Change(ChangeKind.ADD, r, f"k{i}", "1", segment=SEGMENTS[0])
        for i, r in enumerate([*(p.recipient for p in keep), nobody])
    ]
    outcomes = sink.replace_members(SEGMENTS[0], members)
    assert [o.status for o in outcomes] == [OutcomeStatus.OK] * 30 + [OutcomeStatus.REJECTED]
    state = admin(meta_emulator.base_url, "state")
    assert members_of(state, "High value") == {email_hash(p) for p in keep}
    assert state["open_replace_sessions"] == 0


def test_lint_audience_name(caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("lint-test")
    with caplog.at_level(logging.WARNING):
        assert lint_audience_name("Diabetes patients with debt", logger) == [
            "health: diabetes",
            "health: patients",
            "financial: debt",
        ]
    assert "sensitive attribute" in caplog.text
    assert lint_audience_name("High value customers") == []
    assert sha("x")


def test_emulator_speaks_to_sdk_objects(meta_emulator) -> None:
    """AdAccount / CustomAudience objects of the official SDK deserialise every answer."""
    api = FacebookAdsApi.init(access_token=MetaEmulator.access_token, crash_log=False)
    api._session.GRAPH = meta_emulator.base_url
    account = AdAccount("act_111", api=api)
    created = account.create_custom_audience(
        params={
            "name": "SDK audience",
            "subtype": "CUSTOM",
            "customer_file_source": "USER_PROVIDED_ONLY",
        }
    )
    assert created["id"]
    listed = [a["name"] for a in account.get_custom_audiences(fields=["id", "name"])]
    assert listed == ["SDK audience"]
    audience = CustomAudience(created["id"], api=api)
    rows = [[sha("a@b.co"), sha("16505551212")]]
    added = audience.add_users(["EMAIL", "PHONE"], rows, is_raw=True, pre_hashed=True)
    assert added.json()["num_received"] == 1
    removed = audience.remove_users(["EMAIL", "PHONE"], rows, is_raw=True, pre_hashed=True)
    assert removed.status() == 200
    fetched = audience.api_get(fields=["name", "approximate_count_lower_bound"])
    assert fetched["approximate_count_lower_bound"] == 0


def test_deleted_audience_is_recreated_next_run(meta_emulator, meta_sink) -> None:
    crowd = {k: p for k, p in people(10).items() if p.consent == "granted"}
    sink = meta_sink()
    driver = Driver(sink)
    driver.run({SEGMENTS[0]: dict(list(crowd.items())[:5])})
    with meta_emulator.lock:
        meta_emulator.audiences.clear()  # someone deleted it in Ads Manager
    run = driver.run({SEGMENTS[0]: crowd})
    assert set(run) == {"add:retryable"}
    assert sink.recreated_segments == {"high_value"}
    assert len(admin(meta_emulator.base_url, "requests")["requests"]) < 20  # no bisection storm
    run = driver.run({SEGMENTS[0]: crowd})
    assert run == {"add:ok": len(crowd) - 5}


def test_expired_version_refused_with_graph_error_default_passes(meta_sink, meta_emulator) -> None:
    """Meta answers an expired version with (#2635); our default is accepted today."""
    api = FacebookAdsApi.init(
        access_token=MetaEmulator.access_token, api_version="v21.0", crash_log=False
    )
    api._session.GRAPH = meta_emulator.base_url
    with pytest.raises(FacebookRequestError) as refused:
        AdAccount("act_111", api=api).get_custom_audiences(fields=["id"])
    assert refused.value.api_error_code() == 2635
    assert refused.value.api_error_type() == "OAuthException"
    assert "deprecated version of the Ads API" in refused.value.api_error_message()

    old = meta_sink(api_version="v24.0")  # expired 2026-11-10
    with pytest.raises(ConfigError, match="api_version"):
        old.prepare([], SEGMENTS)
    assert not admin(meta_emulator.base_url, "state")["audiences"]

    default = meta_sink()
    assert default.settings.api_version == DEFAULT_VERSION
    default.prepare([], SEGMENTS)
    assert len(admin(meta_emulator.base_url, "state")["audiences"]) == 2
    # v25.0 still answers today, and stops on its published expiry date
    meta_sink(api_version="v25.0").graph.list_audiences()
    admin(meta_emulator.base_url, "seed", json={"today": "2027-02-23"})
    with pytest.raises(ConfigError):
        meta_sink(api_version="v25.0").prepare([], [SegmentRef("new", "New")])


def test_version_table() -> None:
    assert EXPIRES[DEFAULT_VERSION] is None  # not announced: the default is the current one
    assert expired("v21.0", date(2026, 12, 1))
    assert expired("v19.0", date(2026, 12, 1))  # older than the table
    assert not expired(DEFAULT_VERSION, date(2026, 12, 1))
    assert expiry_warning("v25.0", date(2027, 1, 20)) == (
        "Meta Marketing API v25.0 expires on 2027-02-23; plan the upgrade"
    )
    assert expiry_warning(DEFAULT_VERSION, date(2026, 12, 1)) is None


def test_a_moved_member_leaves_its_old_row_first(meta_emulator, meta_sink) -> None:
    """``Change.moved``: the row under the person's old address is deleted before the new one
    is posted, and the audience's member count (the match rate's base) does not move."""
    sink = meta_sink()
    seg = SEGMENTS[0]
    sink.prepare([], [seg])
    old = Recipient("p1", email="old@example.org")
    sink.apply([Change(ChangeKind.ADD, old, "m:high_value:p1", "1", segment=seg)])
    before = len(admin(meta_emulator.base_url, "requests")["requests"])
    moved = Recipient("p1", email="new@example.org", other_emails=("old@example.org",))
    change = Change(ChangeKind.ADD, moved, "m:high_value:p1", "1:x", segment=seg, moved=True)

    assert [o.status for o in sink.apply([change])] == [OutcomeStatus.OK]

    assert members_of(admin(meta_emulator.base_url, "state"), seg.name) == {sha("new@example.org")}
    log = admin(meta_emulator.base_url, "requests")["requests"][before:]
    assert [r["method"] for r in log if "/users" in r["path"]] == ["DELETE", "POST"]
    assert sink.context.state.get(f"members:{seg.id}") == "1"
