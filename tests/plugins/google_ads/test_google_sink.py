"""Google Customer Match (Data Manager API) sink against the emulator."""

from __future__ import annotations

import json

import pytest
from ads_driver import Driver, admin, email_hash, people, raw_identifier_leaks, sha
from pydantic import ValidationError

from cdp_google_ads import SPEC
from cdp_google_ads import sink as sink_module
from connector.errors import AuthError
from connector.plugin.changes import Change, ChangeKind, OutcomeStatus, Recipient, SegmentRef

HIGH = SegmentRef("high_value", "High value")
RISK = SegmentRef("at_risk", "At risk")


def emails_of(state: dict, list_id: str) -> set[str]:  # type: ignore[type-arg]
    return set(state["user_lists"].get(list_id, {}).get("emails", []))


def test_sync_consent_removals_and_no_raw_identifiers(google_emulator, google_sink) -> None:
    crowd = people(300)
    seg = {HIGH: dict(list(crowd.items())[:200]), RISK: dict(list(crowd.items())[100:])}
    driver = Driver(google_sink())
    driver.run(seg)
    state = admin(google_emulator.base_url, "state")
    for segment, list_id in ((HIGH, "9001"), (RISK, "9002")):
        expected = {email_hash(p) for p in seg[segment].values() if p.consent == "granted"}
        assert emails_of(state, list_id) == expected
    high = seg[HIGH]
    leavers, revokers = list(high)[:4], list(high)[10:12]
    for pid in leavers:
        del high[pid]
    for pid in revokers:
        high[pid].consent = "denied"
    run = driver.run(seg)
    gone = [p for p in leavers if crowd[p].consent == "granted"] + revokers
    assert run == {"remove:ok": len(gone)}
    state = admin(google_emulator.base_url, "state")
    assert emails_of(state, "9001") == {
        email_hash(p) for p in high.values() if p.consent == "granted"
    }

    def api_calls() -> int:
        log = admin(google_emulator.base_url, "requests")["requests"]
        return sum(1 for r in log if r["path"].startswith("/v1/"))

    before = api_calls()
    assert driver.run(seg) == {}
    assert api_calls() == before
    log = admin(google_emulator.base_url, "requests", params={"body": 1})["requests"]
    bodies = [r.get("body") or "" for r in log if r["path"].startswith("/v1/")]
    assert raw_identifier_leaks(bodies) == []


def test_request_shape(google_emulator, google_sink) -> None:
    crowd = {k: p for k, p in people(3).items() if p.consent == "granted"}
    Driver(google_sink()).run({HIGH: crowd})
    log = admin(google_emulator.base_url, "requests", params={"body": 1})["requests"]
    ingest = next(r for r in log if r["path"] == "/v1/audienceMembers:ingest")
    body = json.loads(ingest["body"])
    assert body["encoding"] == "HEX"
    granted = {"adUserData": "CONSENT_GRANTED", "adPersonalization": "CONSENT_GRANTED"}
    assert "consent" not in body  # per member: the request-level value would cover everyone
    assert {json.dumps(m["consent"]) for m in body["audienceMembers"]} == {json.dumps(granted)}
    assert body["termsOfService"] == {"customerMatchTermsOfServiceStatus": "ACCEPTED"}
    assert body["destinations"] == [
        {
            "operatingAccount": {"accountType": "GOOGLE_ADS", "accountId": "1234567890"},
            "productDestinationId": "9001",
        }
    ]
    identifiers = body["audienceMembers"][0]["userData"]["userIdentifiers"]
    assert {next(iter(i)) for i in identifiers} == {"emailAddress", "phoneNumber", "address"}
    assert any(r["path"] == "/v1/requestStatus:retrieve" for r in log)


def test_not_denied_never_claims_a_grant_and_the_official_client_parses_every_body(
    google_emulator, google_sink
) -> None:
    """Found by an exploratory pass: with ``consent_policy = "not_denied"`` the request-level
    consent said GRANTED for everyone, including people who never answered, and in the Google
    Ads API's spelling, which the Data Manager API's ConsentStatus (CONSENT_GRANTED ...) does
    not parse. Only a recorded grant is claimed now, per member; the others go unspecified.
    Every body sent is parsed by the official client's message (unknown enum names fail)."""
    dm = pytest.importorskip("google.ads.datamanager_v1")
    crowd = people(60)
    driver = Driver(google_sink(consent_policy="not_denied"), policy="not_denied")
    driver.run({HIGH: crowd})
    log = admin(google_emulator.base_url, "requests", params={"body": 1})["requests"]
    ingests = [json.loads(r["body"]) for r in log if r["path"] == "/v1/audienceMembers:ingest"]
    claimed: dict[str, str] = {}
    for body in ingests:
        dm.IngestAudienceMembersRequest.from_json(json.dumps(body))  # strict: raises on bad names
        assert "consent" not in body
        for m in body["audienceMembers"]:
            email = next(
                i["emailAddress"] for i in m["userData"]["userIdentifiers"] if "emailAddress" in i
            )
            claimed[email] = (m.get("consent") or {}).get("adUserData", "unspecified")
    expected = {
        email_hash(p): "CONSENT_GRANTED" if p.consent == "granted" else "unspecified"
        for p in crowd.values()
        if p.consent != "denied"
    }
    assert claimed == expected
    assert "unspecified" in claimed.values()  # the crowd has people who never answered
    state = admin(google_emulator.base_url, "state")
    assert emails_of(state, "9001") == set(expected)


def test_the_emulator_refuses_the_google_ads_api_spelling_of_consent(google_emulator) -> None:
    """The Data Manager API's JSON parsing refuses a ConsentStatus it does not know, naming
    the field, as Google's JSON transcoding does."""
    import httpx

    body = {
        "destinations": [
            {
                "operatingAccount": {"accountType": "GOOGLE_ADS", "accountId": "1234567890"},
                "productDestinationId": "9001",
            }
        ],
        "audienceMembers": [{"userData": {"userIdentifiers": [{"emailAddress": "a" * 64}]}}],
        "consent": {"adUserData": "GRANTED"},
        "encoding": "HEX",
        "termsOfService": {"customerMatchTermsOfServiceStatus": "ACCEPTED"},
    }
    from cdp_google_ads.emulator import GoogleAdsEmulator

    grant = {
        "grant_type": "refresh_token",
        "client_id": GoogleAdsEmulator.client_id,
        "client_secret": GoogleAdsEmulator.client_secret,
        "refresh_token": GoogleAdsEmulator.refresh_token,
    }
    url = google_emulator.base_url
    token = httpx.post(f"{url}/token", data=grant, timeout=30).json()["access_token"]

    def ingest() -> httpx.Response:
        headers = {"Authorization": f"Bearer {token}"}
        return httpx.post(
            f"{url}/v1/audienceMembers:ingest", json=body, headers=headers, timeout=30
        )

    response = ingest()
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["status"] == "INVALID_ARGUMENT"
    assert "'consent.ad_user_data'" in error["message"]
    violations = error["details"][0]["fieldViolations"]
    assert violations[0]["field"] == "consent.ad_user_data"
    body["consent"] = {"adUserData": "CONSENT_GRANTED"}
    assert ingest().status_code == 200


def test_503_retried_and_state_matches(google_emulator, google_sink) -> None:
    admin(
        google_emulator.base_url,
        "faults",
        json={"rules": [{"path": "/v1/audienceMembers:*", "status": 503, "count": 2}]},
    )
    crowd = {k: p for k, p in people(40).items() if p.consent == "granted"}
    run = Driver(google_sink()).run({HIGH: crowd})
    assert run == {"add:ok": len(crowd)}
    state = admin(google_emulator.base_url, "state")
    assert emails_of(state, "9001") == {email_hash(p) for p in crowd.values()}


def test_field_violation_rejects_only_that_member(google_emulator, google_sink) -> None:
    sink = google_sink()
    sink.prepare([], [HIGH])
    good = [Recipient(f"g{i}", email=f"g{i}@x.io") for i in range(6)]
    changes = [Change(ChangeKind.ADD, r, r.profile_id, "d", segment=HIGH) for r in good]
    changes.insert(2, Change(ChangeKind.ADD, Recipient("bad", phone="1"), "kb", "d", segment=HIGH))
    # An uppercase pre-hashed value is lowercased by us and accepted.
    changes.insert(
        4, Change(ChangeKind.ADD, Recipient("odd", email="A" * 64), "ko", "d", segment=HIGH)
    )
    outcomes = sink.apply(changes)
    statuses = [o.status for o in outcomes]
    assert statuses.count(OutcomeStatus.OK) == 7
    assert outcomes[2].status is OutcomeStatus.REJECTED  # nothing hashable: rejected locally
    assert outcomes[4].status is OutcomeStatus.OK  # uppercase hex is lowercased, not refused
    assert len(emails_of(admin(google_emulator.base_url, "state"), "9001")) == 7


def test_platform_violation_isolated(google_emulator, google_sink, monkeypatch) -> None:
    real = sink_module.google_identifiers

    def broken(email, phone, match, **kw):
        out = real(email, phone, match, **kw)
        if email == "g3@x.io":
            out.identifiers = [{"emailAddress": "not-a-hash"}]
        return out

    monkeypatch.setattr(sink_module, "google_identifiers", broken)
    sink = google_sink()
    sink.prepare([], [HIGH])
    recips = [Recipient(f"g{i}", email=f"g{i}@x.io") for i in range(6)]
    outcomes = sink.apply(
        [Change(ChangeKind.ADD, r, r.profile_id, "d", segment=HIGH) for r in recips]
    )
    assert [o.status.value for o in outcomes] == ["ok", "ok", "ok", "rejected", "ok", "ok"]
    assert "SHA-256" in outcomes[3].reason


def test_match_rate_reported(google_emulator, google_sink) -> None:
    crowd = {k: p for k, p in people(100).items() if p.consent == "granted"}
    hashes = [email_hash(p) for p in list(crowd.values())[: len(crowd) // 2]]
    admin(google_emulator.base_url, "seed", json={"platform_users": hashes})
    sink = google_sink()
    Driver(sink).run({HIGH: crowd})
    assert sink.last_match_rates["high_value"] == pytest.approx(0.455)  # 41-50% bucket


def test_terms_not_accepted_is_rejected(google_sink) -> None:
    sink = google_sink(terms_of_service_accepted=False)
    crowd = {k: p for k, p in people(5).items() if p.consent == "granted"}
    run = Driver(sink).run({HIGH: crowd})
    assert run == {"add:rejected": len(crowd)}


def test_bad_refresh_token_is_auth_error(google_sink) -> None:
    sink = google_sink(refresh_token="nope")
    sink.prepare([], [HIGH])
    with pytest.raises(AuthError):
        sink.apply([Change(ChangeKind.ADD, Recipient("a", email="a@b.co"), "k", "d", segment=HIGH)])


def test_service_account_jwt(google_emulator, google_sink, service_account) -> None:
    sink = google_sink(**service_account)
    crowd = {k: p for k, p in people(5).items() if p.consent == "granted"}
    assert Driver(sink).run({HIGH: crowd}) == {"add:ok": len(crowd)}


def test_settings_need_one_credential(google_emulator) -> None:
    with pytest.raises(ValidationError):
        SPEC.settings_model.model_validate({"operating_account_id": "1"})


def test_leak_detector_catches_raw_identifiers() -> None:
    """The check the scenario relies on must itself see raw emails, phones and names."""
    hashed = "a" * 64
    assert raw_identifier_leaks([f'{{"emailAddress":"{hashed}","accountId":"1234567890"}}']) == []
    assert raw_identifier_leaks(["payload=%7B%22data%22%3A%5B%5B%22jane%40example.com%22"])
    assert raw_identifier_leaks(['{"phoneNumber":"+16505551212"}'])
    assert raw_identifier_leaks(['{"givenName":"José"}'])


def test_removal_also_addresses_the_persons_other_emails(google_emulator, google_sink) -> None:
    """Issue 20: added under an old address, removed after the person changed it (and withdrew
    consent); the removal must reach the member added under the old address."""
    sink = google_sink()
    sink.prepare([], [HIGH])
    added = Recipient("p1", email="old@example.org")
    ok = sink.apply([Change(ChangeKind.ADD, added, "m:high_value:p1", "1", segment=HIGH)])
    assert [o.status for o in ok] == [OutcomeStatus.OK]
    assert len(emails_of(admin(google_emulator.base_url, "state"), "9001")) == 1
    moved = Recipient("p1", email="new@example.org", other_emails=("old@example.org",))
    gone = sink.apply([Change(ChangeKind.REMOVE, moved, "m:high_value:p1", "1", segment=HIGH)])
    assert [o.status for o in gone] == [OutcomeStatus.OK]
    assert emails_of(admin(google_emulator.base_url, "state"), "9001") == set()
    sink.close()


def test_a_moved_member_is_removed_under_its_old_address_before_it_is_added(
    google_emulator, google_sink
) -> None:
    """``Change.moved``: the old address's removal is sent and its status read before the
    ingest goes (Google processes requests asynchronously), so the list ends holding the
    person under the new address alone."""
    sink = google_sink()
    sink.prepare([], [HIGH])
    added = Recipient("p1", email="old@example.org")
    sink.apply([Change(ChangeKind.ADD, added, "m:high_value:p1", "1", segment=HIGH)])
    before = len(admin(google_emulator.base_url, "requests")["requests"])
    moved = Recipient("p1", email="new@example.org", other_emails=("old@example.org",))
    change = Change(ChangeKind.ADD, moved, "m:high_value:p1", "1:x", segment=HIGH, moved=True)

    assert [o.status for o in sink.apply([change])] == [OutcomeStatus.OK]

    state = admin(google_emulator.base_url, "state")
    assert emails_of(state, "9001") == {sha("new@example.org")}
    log = admin(google_emulator.base_url, "requests")["requests"][before:]
    calls = [r["path"].split("/")[-1].split("?")[0] for r in log if r["path"].startswith("/v1/")]
    removed, ingested = calls.index("audienceMembers:remove"), calls.index("audienceMembers:ingest")
    assert "requestStatus:retrieve" in calls[removed:ingested]  # the removal was seen done
    sink.close()
