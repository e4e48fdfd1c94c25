from __future__ import annotations

from dataclasses import replace

import pytest
from hubspot_helpers import apply_all, member, recorded, settings_for, upsert

from cdp_hubspot import SPEC
from connector.emulator import FaultRule
from connector.errors import AuthError, ConfigError
from connector.plugin.changes import ChangeKind, OutcomeStatus, SegmentRef, TraitSpec
from connector.testing import make_context

TRAITS = [
    TraitSpec("churn_score", "number", "Churn score"),
    TraitSpec("value_tier", "enum", "Value tier", options=("gold", "silver", "bronze")),
    TraitSpec("next_order_date", "date", "Next order date"),
    TraitSpec("scored_at", "datetime", "Scored at"),
    TraitSpec("rfm_label", "string", "RFM label"),
    TraitSpec("is_vip", "bool", "VIP"),
]
CHAMPIONS = SegmentRef("seg-champions", "Champions")
AT_RISK = SegmentRef("seg-at-risk", "At risk")


def _sink(emu, tmp_path, **kw):
    context = make_context(tmp_path)
    return SPEC.sink(settings_for(emu, **kw), context), context  # type: ignore[misc]


def _traits(i: int) -> dict[str, object]:
    return {
        "churn_score": round(i / 100, 2),
        "value_tier": ("gold", "silver", "bronze")[i % 3],
        "next_order_date": "2026-12-01",
        "scored_at": "2026-11-20T10:00:00Z",
        "rfm_label": f"r{i % 5}",
        "is_vip": i % 2 == 0,
    }


def test_prepare_creates_typed_properties_and_is_idempotent(emulator, tmp_path):
    sink, context = _sink(emulator, tmp_path)
    sink.prepare(TRAITS, [CHAMPIONS])
    sink.prepare(TRAITS, [CHAMPIONS])
    props = emulator.contacts.properties
    assert props["churn_score"]["type"] == "number"
    assert props["value_tier"]["type"] == "enumeration"
    assert [o["value"] for o in props["value_tier"]["options"]] == ["gold", "silver", "bronze"]
    assert props["next_order_date"]["type"] == "date"
    assert props["scored_at"]["type"] == "datetime"
    assert props["is_vip"]["type"] == "bool"
    assert props["rfm_label"]["groupName"] == "cdp_traits"
    assert [lst["name"] for lst in emulator.lists.values()] == ["CDP: Champions"]
    assert context.state.get("list:seg-champions") == "1"
    # options follow the trait when it changes
    sink.prepare([TraitSpec("value_tier", "enum", "Value tier", options=("gold", "platinum"))], [])
    assert [o["value"] for o in props["value_tier"]["options"]] == ["gold", "platinum"]


def test_existing_list_is_found_by_name_and_dynamic_lists_refused(emulator, tmp_path):
    emulator.lists["7"] = {
        "listId": "7", "listVersion": 1, "name": "CDP: At risk", "objectTypeId": "0-1",
        "processingType": "DYNAMIC", "processingStatus": "COMPLETE",
    }  # fmt: skip
    emulator.members["7"] = {}
    sink, _ = _sink(emulator, tmp_path)
    with pytest.raises(ConfigError, match="DYNAMIC"):
        sink.prepare([], [AT_RISK])
    sink.prepare([], [CHAMPIONS])
    other, _ = _sink(emulator, tmp_path / "other")
    other.prepare([], [CHAMPIONS])
    assert sum(lst["name"] == "CDP: Champions" for lst in emulator.lists.values()) == 1


def test_upsert_by_email_learns_ids_then_updates_by_id(emulator, tmp_path):
    sink, _ = _sink(emulator, tmp_path)
    sink.prepare(TRAITS, [])
    changes = [upsert(f"p{i}", f"Person{i}@Example.com", _traits(i)) for i in range(150)]
    outcomes = apply_all(sink, changes)
    assert all(o.status == OutcomeStatus.OK for o in outcomes)
    ids = [o.learned_ids["hubspot_id"] for o in outcomes]
    contact = emulator.contacts.records[ids[3]].props
    assert contact["email"] == "person3@example.com"
    assert contact["churn_score"] == "0.03"
    assert contact["value_tier"] == "gold"
    assert contact["next_order_date"] == "2026-12-01"
    assert contact["scored_at"] == "2026-11-20T10:00:00.000Z"
    assert contact["is_vip"] == "false"
    traits = {k: v for k, v in _traits(3).items() if k != "rfm_label"}
    again = [
        replace(
            upsert("p3", "person3@example.com", {**traits, "churn_score": 0.5}, ids[3]),
            unset=("rfm_label",),
        )
    ]
    before = len(recorded(emulator))
    assert apply_all(sink, again)[0].status == OutcomeStatus.OK
    sent = recorded(emulator)[before:]
    assert [e.path for e in sent] == ["/crm/v3/objects/contacts/batch/update"]
    assert emulator.contacts.records[ids[3]].props["churn_score"] == "0.5"
    assert emulator.contacts.records[ids[3]].props["rfm_label"] == ""
    assert len(emulator.contacts.records) == 150


def test_invalid_value_is_the_only_reject_with_hubspots_reason(emulator, tmp_path):
    sink, _ = _sink(emulator, tmp_path)
    sink.prepare(TRAITS, [])
    changes = [upsert(f"p{i}", f"p{i}@example.com", _traits(i)) for i in range(100)]
    changes[37] = upsert("p37", "p37@example.com", {**_traits(37), "value_tier": "diamond"})
    changes[60] = upsert("p60", None, _traits(60))
    outcomes = apply_all(sink, changes)
    rejected = {i: o.reason for i, o in enumerate(outcomes) if o.status != OutcomeStatus.OK}
    assert set(rejected) == {37, 60}
    assert "diamond" in rejected[37]
    assert "was not one of the allowed options" in rejected[37]
    assert len(emulator.contacts.records) == 98
    assert emulator.contacts.by_email.get("p37@example.com") is None


def test_duplicate_recipients_in_one_chunk_are_sent_in_separate_requests(emulator, tmp_path):
    sink, _ = _sink(emulator, tmp_path)
    sink.prepare(TRAITS, [])
    changes = [
        upsert("a", "same@example.com", {"rfm_label": "first"}),
        upsert("b", "SAME@example.com", {"rfm_label": "second"}),
    ]
    outcomes = apply_all(sink, changes)
    assert [o.status for o in outcomes] == [OutcomeStatus.OK, OutcomeStatus.OK]
    rid = outcomes[0].learned_ids["hubspot_id"]
    assert emulator.contacts.records[rid].props["rfm_label"] == "second"


def test_list_adds_and_removes_resolve_ids_by_email(emulator, tmp_path):
    sink, _ = _sink(emulator, tmp_path)
    sink.prepare(TRAITS, [CHAMPIONS])
    outcomes = apply_all(
        sink, [upsert(f"p{i}", f"p{i}@example.com", _traits(i)) for i in range(10)]
    )
    ids = [o.learned_ids["hubspot_id"] for o in outcomes]
    adds = [member(ChangeKind.ADD, f"p{i}", f"p{i}@example.com", CHAMPIONS) for i in range(6)]
    adds.append(member(ChangeKind.ADD, "ghost", "ghost@example.com", CHAMPIONS))
    adds.append(member(ChangeKind.ADD, "p7", None, CHAMPIONS, hubspot_id=ids[7]))
    result = apply_all(sink, adds)
    assert [o.status for o in result][:6] == [OutcomeStatus.OK] * 6
    assert result[0].learned_ids == {"hubspot_id": ids[0]}
    assert result[6].status == OutcomeStatus.RETRYABLE
    assert result[7].status == OutcomeStatus.OK
    list_id = sink.list_ids[CHAMPIONS.id]
    assert set(emulator.members[list_id]) == {*ids[:6], ids[7]}
    removes = [
        member(ChangeKind.REMOVE, f"p{i}", None, CHAMPIONS, hubspot_id=ids[i]) for i in (0, 1)
    ]
    removes.append(member(ChangeKind.REMOVE, "ghost", "ghost@example.com", CHAMPIONS))
    assert all(o.status == OutcomeStatus.OK for o in apply_all(sink, removes))
    assert set(emulator.members[list_id]) == {*ids[2:6], ids[7]}


def test_server_errors_and_429s_are_retried(emulator, tmp_path):
    sink, _ = _sink(emulator, tmp_path, max_attempts=10)
    sink.prepare(TRAITS, [])
    emulator.faults.set_rules(
        [
            FaultRule(path="/crm/v3/objects/contacts/batch/*", status=503, count=3),
            FaultRule(path="/crm/v3/objects/contacts/batch/*", status=429, count=3),
        ]
    )
    outcomes = apply_all(
        sink, [upsert(f"p{i}", f"p{i}@example.com", _traits(i)) for i in range(20)]
    )
    assert all(o.status == OutcomeStatus.OK for o in outcomes)
    statuses = [e.status for e in recorded(emulator) if "batch" in e.path]
    assert statuses.count(503) == 3
    assert statuses.count(429) == 3
    assert statuses[-1] == 200


def test_revoked_token_raises_auth_error(emulator, tmp_path):
    emulator.revoked_tokens.add(settings_for(emulator).access_token.get_secret_value())
    sink, _ = _sink(emulator, tmp_path)
    with pytest.raises(AuthError):
        sink.prepare(TRAITS, [])


def test_a_merged_away_contact_is_changed_by_its_id_alone(emulator, tmp_path):
    """A change about a merged-away profile's own contact carries the survivor's address: the
    contact is taken off the list and cleared by its id, never matched by that address (which
    would hit the survivor's contact); when HubSpot cannot be asked whether the id is still a
    contact of its own, only those changes wait and the others go."""
    sink, _ = _sink(emulator, tmp_path)
    sink.prepare(TRAITS, [CHAMPIONS])
    made = apply_all(sink, [upsert(f"p{i}", f"p{i}@example.com", _traits(i)) for i in range(3)])
    ids = [o.learned_ids["hubspot_id"] for o in made]
    adds = [member(ChangeKind.ADD, f"p{i}", None, CHAMPIONS, hubspot_id=ids[i]) for i in range(3)]
    apply_all(sink, adds)
    list_id = sink.list_ids[CHAMPIONS.id]

    def away(change):
        alone = replace(change.recipient, email="p1@example.com")  # the survivor's address
        return replace(change, recipient=alone, clears=True, merged_away=True)

    gone = away(member(ChangeKind.REMOVE, "p0", None, CHAMPIONS, hubspot_id=ids[0]))
    cleared = replace(away(upsert("p0", None, {}, hubspot_id=ids[0])), unset=("churn_score",))
    assert [o.status for o in apply_all(sink, [cleared, gone])] == [OutcomeStatus.OK] * 2
    assert set(emulator.members[list_id]) == {ids[1], ids[2]}
    assert emulator.contacts.records[ids[0]].props["churn_score"] == ""
    assert emulator.contacts.records[ids[1]].props["churn_score"] == "0.01"

    emulator.faults.set_rules(
        [FaultRule(path="/crm/v3/objects/contacts/batch/read", status=400, count=5)]
    )
    later = away(member(ChangeKind.REMOVE, "p2", None, CHAMPIONS, hubspot_id=ids[2]))
    other = member(ChangeKind.REMOVE, "p1", None, CHAMPIONS, hubspot_id=ids[1])
    result = apply_all(sink, [later, other])
    assert [o.status for o in result] == [OutcomeStatus.REJECTED, OutcomeStatus.OK]
    assert set(emulator.members[list_id]) == {ids[2]}
