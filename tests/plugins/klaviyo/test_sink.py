"""Klaviyo sink: traits via bulk import jobs, unset, rejects, lists by profile id, faults."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
from klaviyo_support import SPECS, Identities, SpecRecorder, apply_all, member, upsert

from cdp_klaviyo import SPEC
from cdp_klaviyo.bulk import pack_jobs, profile_payload
from cdp_klaviyo.limits import IMPORT_MAX_BYTES, IMPORT_MAX_PROFILES
from connector.emulator import FaultRule
from connector.errors import AuthError
from connector.plugin.changes import ChangeKind, OutcomeStatus, Recipient, SegmentRef

VIP = SegmentRef("seg-vip", "VIP")
LAPSED = SegmentRef("seg-lapsed", "Lapsed")


def _sink(settings, ctx):
    return SPEC.sink(settings.model_dump() | {"api_key": "pk_test"}, ctx)


def _people(emulator, n):
    chosen = sorted(
        (p for p in emulator.store.profiles.values() if p.get("email")), key=lambda p: p["id"]
    )[:n]
    return [(f"p-{p['id']}", p["email"], p["id"]) for p in chosen]


def _state(emulator):
    return emulator.snapshot()


def test_traits_land_in_one_job_and_ids_are_learned(emulator, settings, ctx) -> None:
    sink = _sink(settings, ctx)
    sink.prepare([], [])
    people = _people(emulator, 40)
    ids = Identities()
    changes = [
        upsert(ids.recipient(pid, email), {"churn_risk": i / 40, "tier": "gold"})
        for i, (pid, email, _) in enumerate(people)
    ]
    outcomes = apply_all(sink, changes, ids)
    assert all(o.status is OutcomeStatus.OK for o in outcomes)
    assert ids.ids == {pid: kid for pid, _, kid in people}
    state = _state(emulator)
    assert len(state["jobs"]) == 1
    for i, (_, _, kid) in enumerate(people):
        assert state["profiles"][kid]["properties"]["churn_risk"] == i / 40
    # A second run keys on the learned ids: no lookups, and "tier" removed is unset, not null.
    emulator.recorder.clear()
    again = [
        upsert(ids.recipient(pid, email), {"churn_risk": 0.5}, unset=["tier"])
        for pid, email, _ in people[:3]
    ]
    assert all(o.status is OutcomeStatus.OK for o in apply_all(sink, again, ids))
    assert not [r for r in emulator.recorder.entries() if r.path == "/api/profiles"]
    state = _state(emulator)
    for _, _, kid in people[:3]:
        assert "tier" not in state["profiles"][kid]["properties"]
        assert state["profiles"][kid]["properties"]["churn_risk"] == 0.5
    assert state["profiles"][people[3][2]]["properties"]["tier"] == "gold"


def test_a_profile_the_import_refuses_is_the_only_reject_with_klaviyos_reason(
    emulator, settings, ctx
) -> None:
    sink = _sink(settings, ctx)
    people = _people(emulator, 20)
    emulator.seed({"refuse_emails": [people[7][1]]})
    ids = Identities()
    outcomes = apply_all(
        sink, [upsert(ids.recipient(pid, email), {"score": 1}) for pid, email, _ in people], ids
    )
    bad = [i for i, o in enumerate(outcomes) if o.status is not OutcomeStatus.OK]
    assert bad == [7]
    assert outcomes[7].status is OutcomeStatus.REJECTED
    assert outcomes[7].reason.startswith("invalid: Email address is on the account's suppression")
    assert "score" not in _state(emulator)["profiles"][people[7][2]]["properties"]


def test_lists_are_found_by_name_then_hold_exactly_the_members(emulator, settings, ctx) -> None:
    sink = _sink(settings, ctx)
    client = sink.client
    pre = client.call(
        "list_create",
        lambda: client.api.Lists.create_list(
            {"data": {"type": "list", "attributes": {"name": "CDP: VIP"}}}
        ),
    )
    sink.prepare([], [VIP, LAPSED])
    state = _state(emulator)
    assert sorted(x["name"] for x in state["lists"].values()) == ["CDP: Lapsed", "CDP: VIP"]
    assert ctx.state.get("list:seg-vip") == pre["data"]["id"]
    people = _people(emulator, 30)
    ids = Identities()
    adds = [member(ChangeKind.ADD, ids.recipient(pid, email), VIP) for pid, email, _ in people[:20]]
    adds += [member(ChangeKind.ADD, ids.recipient("p-new", "newcomer@example.com"), LAPSED)]
    outcomes = apply_all(sink, adds, ids)
    assert all(o.status is OutcomeStatus.OK for o in outcomes)
    removes = [
        member(ChangeKind.REMOVE, ids.recipient(pid, email), VIP) for pid, email, _ in people[:5]
    ]
    assert all(o.status is OutcomeStatus.OK for o in apply_all(sink, removes, ids))
    state = _state(emulator)
    vip = state["lists"][pre["data"]["id"]]["members"]
    assert vip == sorted(kid for _, _, kid in people[5:20])
    lapsed = state["lists"][ctx.state.get("list:seg-lapsed")]["members"]
    newcomer = [kid for kid, p in state["profiles"].items() if p["email"] == "newcomer@example.com"]
    assert lapsed == newcomer


@pytest.mark.parametrize("seed", [3])
def test_with_5xx_and_429_injected_the_final_state_equals_the_desired(
    emulator, settings, ctx, seed
) -> None:
    emulator.faults._rng.seed(seed)
    recorder = SpecRecorder(emulator)
    sink = _sink(settings, ctx)
    emulator.faults.set_rules(
        [
            FaultRule(path="/api/*", status=429, count=6, rate=0.3, retry_after=1),
            FaultRule(path="/api/*", status=503, rate=0.1),
            FaultRule(path="/api/*", status=500, rate=0.03),
        ]
    )
    sink.prepare([], [VIP])
    people = _people(emulator, 50)
    ids = Identities()
    ups = [
        upsert(ids.recipient(pid, email), {"score": i}) for i, (pid, email, _) in enumerate(people)
    ]
    assert all(o.status is OutcomeStatus.OK for o in apply_all(sink, ups, ids))
    adds = [
        member(ChangeKind.ADD, ids.recipient(pid, email), VIP)
        for pid, email, _ in people
        if int(pid[-1], 36) % 2
    ]
    assert all(o.status is OutcomeStatus.OK for o in apply_all(sink, adds, ids))
    fired = {r.status: r.fired for r in emulator.faults.rules()}
    assert fired[429] >= 1
    assert fired[503] >= 1
    emulator.faults.set_rules([])
    state = _state(emulator)
    assert {kid: state["profiles"][kid]["properties"]["score"] for _, _, kid in people} == {
        kid: i for i, (_, _, kid) in enumerate(people)
    }
    members = state["lists"][ctx.state.get("list:seg-vip")]["members"]
    assert members == sorted(kid for pid, _, kid in people if int(pid[-1], 36) % 2)
    if SPECS.exists():  # the injected 429/5xx bodies are spec-valid error documents too
        recorder.validate()
        assert {resp.status for _, _, resp in recorder.seen} >= {429, 503}


def test_a_refused_key_raises_auth_error_instead_of_rejecting_records(
    emulator, settings, ctx
) -> None:
    bad = settings.model_dump() | {"api_key": "wrong"}
    with pytest.raises(AuthError):
        SPEC.sink(bad, ctx).prepare([], [VIP])
    source = SPEC.source(bad, ctx)
    with pytest.raises(AuthError):
        list(source.read(source.streams()[0], None))


def test_jobs_stay_under_the_profile_and_byte_limits() -> None:
    recipient = Recipient("p", "a@example.com")
    payloads = [(i, profile_payload(recipient, {"blob": "x" * 2_000}, ())) for i in range(6_000)]
    payloads += [(6_000 + i, profile_payload(recipient, {"n": i}, ())) for i in range(12_000)]
    jobs = pack_jobs(payloads)
    assert [i for job in jobs for i, _ in job] == list(range(18_000))
    for job in jobs:
        assert len(job) <= IMPORT_MAX_PROFILES
        body = {
            "data": {
                "type": "profile-bulk-import-job",
                "attributes": {"profiles": {"data": [p for _, p in job]}},
            }
        }
        assert len(json.dumps(body).encode()) < IMPORT_MAX_BYTES
    assert len(jobs) == 4


def test_null_trait_is_unset_not_sent_as_null() -> None:
    payload = profile_payload(
        Recipient("p", "a@example.com", ids={"klaviyo_id": "K1"}), {"a": 1, "b": None}, ("c",)
    )
    assert payload == {
        "type": "profile",
        "id": "K1",
        "attributes": {"properties": {"a": 1}},
        "meta": {"patch_properties": {"unset": ["b", "c"]}},
    }


def test_only_a_profile_we_created_is_moved_to_a_changed_address() -> None:
    """A person with a past address: our own profile is sent the current one with its id;
    a profile Klaviyo's users keep (its id read by our source, not created) is never."""
    moved = Recipient(
        "p", "new@example.com", ids={"klaviyo_id": "K1"}, other_emails=("old@example.com",)
    )
    theirs = profile_payload(moved, {"a": 1}, ())
    ours = profile_payload(replace(moved, created=frozenset({"klaviyo_id"})), {"a": 1}, ())
    assert theirs["attributes"] == {"properties": {"a": 1}}
    assert ours["attributes"] == {"email": "new@example.com", "properties": {"a": 1}}
    assert ours["id"] == theirs["id"] == "K1"
    settled = replace(moved, other_emails=(), created=frozenset({"klaviyo_id"}))
    assert "email" not in profile_payload(settled, {"a": 1}, ())["attributes"]


def test_a_list_deleted_in_klaviyo_is_found_or_created_again(emulator, settings, ctx) -> None:
    sink = _sink(settings, ctx)
    sink.prepare([], [VIP])
    emulator.store.lists.pop(ctx.state.get("list:seg-vip"))
    people = _people(emulator, 3)
    ids = Identities()
    outcomes = apply_all(
        sink,
        [member(ChangeKind.ADD, ids.recipient(pid, email), VIP) for pid, email, _ in people],
        ids,
    )
    assert all(o.status is OutcomeStatus.OK for o in outcomes)
    lists = _state(emulator)["lists"]
    assert [x["members"] for x in lists.values()] == [sorted(kid for _, _, kid in people)]


def test_list_changes_use_the_ids_this_run_just_learned(emulator, settings, ctx) -> None:
    """A first run plans its list changes before its trait writes learn the Klaviyo ids; the
    list changes must not look the same people up again (get_profiles has the slowest
    budget: at 300k profiles the lookups alone were minutes)."""
    sink = _sink(settings, ctx)
    sink.prepare([], [VIP])
    people = _people(emulator, 30)
    planned = Identities()  # what the plan knew: no ids yet
    traits = [upsert(planned.recipient(pid, email), {"tier": "gold"}) for pid, email, _ in people]
    assert all(o.status is OutcomeStatus.OK for o in apply_all(sink, traits))
    emulator.recorder.clear()
    adds = [member(ChangeKind.ADD, planned.recipient(pid, email), VIP) for pid, email, _ in people]
    outcomes = apply_all(sink, adds)
    assert all(o.status is OutcomeStatus.OK for o in outcomes)
    assert not [r for r in emulator.recorder.entries() if r.path == "/api/profiles"]
    members = _state(emulator)["lists"]
    vip = next(v for v in members.values() if v["name"].endswith("VIP"))
    assert sorted(vip["members"]) == sorted(kid for _, _, kid in people)
