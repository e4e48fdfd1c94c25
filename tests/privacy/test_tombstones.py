"""Tombstones in the core: validation, the store's per-key rules, unify's inactive profiles and
merges (the contract in ``connector.schema.records``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from connector.errors import SkippableError
from connector.identity.unify import UnifyResult, unify
from connector.schema.records import EventRecord, ProfileRecord, validate_event, validate_profile
from connector.store.datastore import DataStore


def _p(source: str = "crm", **raw: Any) -> ProfileRecord:
    return validate_profile(raw, source=source, region="GB")


def _ev(eid: str, email: str) -> EventRecord:
    raw = {
        "source_event_id": eid,
        "type": "page_viewed",
        "occurred_at": "2025-01-02",
        "email": email,
    }
    return validate_event(raw, source="web", region="GB")


@pytest.fixture
def store(tmp_path: Path) -> DataStore:
    return DataStore(tmp_path / "data.duckdb")


def _unify(store: DataStore) -> UnifyResult:
    return unify(store, blocked=(), max_ids_per_kind=5, run_id="r")


def _profiles(store: DataStore) -> list[tuple[str, str]]:
    rows = store.con.execute("SELECT profile_id, email FROM profiles ORDER BY email").fetchall()
    return [(str(a), str(b)) for a, b in rows]


@pytest.mark.parametrize("flag", [True, "true", "1", "YES", 1])
def test_a_deleted_flag_in_any_spelling_is_a_tombstone_needing_only_source_id(flag: Any) -> None:
    rec = _p(source_id="c1", deleted=flag)
    assert rec.tombstone
    assert rec.deleted
    assert rec.email is None


def test_deleted_false_is_a_live_record_and_bad_flags_are_refused() -> None:
    assert not _p(source_id="c1", deleted="false", email="a@x.org").tombstone
    with pytest.raises(SkippableError, match="deleted must be true or false"):
        _p(source_id="c1", deleted="maybe")
    with pytest.raises(SkippableError, match="merged_into names the record itself"):
        _p(source_id="c1", merged_into="c1")
    with pytest.raises(SkippableError, match="deleted_at"):
        _p(source_id="c1", deleted=True, deleted_at="not a date")


def test_a_deleted_record_makes_its_profile_inactive_with_its_events(store: DataStore) -> None:
    store.upsert_profile_records(
        [_p(source_id="c1", email="a@x.org"), _p(source_id="c2", email="b@x.org")], "r1"
    )
    store.upsert_events([_ev("e1", "a@x.org"), _ev("e2", "a@x.org")], "r1")
    assert _unify(store).inactive == 0
    pid = _profiles(store)[0][0]
    store.upsert_profile_records([_p(source_id="c1", deleted=True)], "r2")
    res = _unify(store)
    assert (res.inactive, res.profiles) == (1, 1)
    assert [e for _p, e in _profiles(store)] == ["b@x.org"]
    # the person stays addressable for removal: same profile id, identities and events kept
    assert store.con.execute("SELECT profile_id FROM inactive_profiles").fetchall() == [(pid,)]
    assert store.con.execute(
        "SELECT value FROM identities WHERE profile_id = ?", [pid]
    ).fetchall() == [("a@x.org",)]


def test_another_live_source_record_keeps_the_person_active(store: DataStore) -> None:
    store.upsert_profile_records([_p(source_id="c1", email="a@x.org", first_name="Old")], "r1")
    store.upsert_profile_records([_p("shop", source_id="s1", email="a@x.org")], "r1")
    store.upsert_profile_records([_p(source_id="c1", deleted=True)], "r2")
    assert _unify(store).inactive == 0
    row = store.con.execute("SELECT email, first_name, sources FROM profiles").fetchall()
    assert row == [("a@x.org", None, "shop")], "the tombstoned record gives no fields"


def test_revival_follows_time_and_order(store: DataStore) -> None:
    live_old = _p(source_id="c1", email="a@x.org", updated_at="2025-01-01")
    gone = _p(source_id="c1", deleted=True, deleted_at="2025-06-01")
    live_new = _p(source_id="c1", email="a@x.org", updated_at="2025-07-01")
    store.upsert_profile_records([live_old, gone], "r1")
    assert store.count("tombstones") == 1
    store.upsert_profile_records([live_old], "r2")  # an old version read again: no restore
    assert store.count("tombstones") == 1
    store.upsert_profile_records([gone, live_old], "r3")  # same, within one batch
    assert store.count("tombstones") == 1
    store.upsert_profile_records([live_new], "r4")
    assert store.count("tombstones") == 0
    assert _unify(store).profiles == 1


def test_undated_tombstone_is_dated_when_received(store: DataStore) -> None:
    store.upsert_profile_records([_p(source_id="c1", deleted=True)], "r1")
    store.upsert_profile_records(
        [_p(source_id="c1", email="a@x.org", updated_at="2025-01-01")], "r2"
    )
    assert store.count("tombstones") == 1, "a record last edited before the deletion"
    store.upsert_profile_records([_p(source_id="c1", email="a@x.org")], "r3")
    assert store.count("tombstones") == 0, "an undated live record after it revives it"


def test_a_tombstone_for_a_record_never_seen_makes_no_profile(store: DataStore) -> None:
    store.upsert_profile_records([_p(source_id="ghost", deleted=True)], "r1")
    res = _unify(store)
    assert (res.profiles, res.inactive) == (0, 0)


def test_merged_into_joins_the_identities_to_the_survivor(store: DataStore) -> None:
    store.upsert_profile_records(
        [
            _p(source_id="c1", email="a@x.org", ids={"crm_id": "1"}),
            _p(source_id="c2", email="b@x.org", ids={"crm_id": "2"}),
        ],
        "r1",
    )
    store.upsert_events([_ev("e1", "a@x.org")], "r1")
    _unify(store)
    before = dict((e, p) for p, e in _profiles(store))
    store.upsert_profile_records([_p(source_id="c1", merged_into="c2")], "r2")
    res = _unify(store)
    assert (res.profiles, res.inactive, res.retired) == (1, 0, 1)
    ((pid, email),) = _profiles(store)
    assert email == "b@x.org"
    assert pid in before.values()
    keys = store.con.execute(
        "SELECT kind || ':' || value FROM identities WHERE profile_id = ? ORDER BY 1", [pid]
    ).fetchall()
    assert [k for (k,) in keys] == ["crm_id:1", "crm_id:2", "email:a@x.org", "email:b@x.org"]
    assert store.con.execute("SELECT DISTINCT profile_id FROM events").fetchall() == [(pid,)]
    retired = store.con.execute("SELECT profile_id, merged_into FROM retired_profiles").fetchall()
    assert retired == [(before["a@x.org"], pid)] or retired == [(before["b@x.org"], pid)]


def _ev_ids(eid: str, **ids: str) -> EventRecord:
    raw = {"source_event_id": eid, "type": "order_completed", "occurred_at": "2025-01-02"}
    return validate_event({**raw, "ids": ids, "revenue": 10}, source="crm", region="GB")


def test_a_tombstone_naming_its_ids_stands_in_for_a_record_never_read(store: DataStore) -> None:
    """A contact archived before any scan read it, whose deal was read: the deal's person is
    gone, not a new active person made of the deal alone."""
    store.upsert_events([_ev_ids("d1", crm_id="7")], "r1")
    assert _unify(store).profiles == 1, "before the archive is known: a person of the deal"
    store.upsert_profile_records([_p(source_id="c7", deleted=True, ids={"crm_id": "7"})], "r2")
    res = _unify(store)
    assert (res.profiles, res.inactive) == (0, 1)
    assert store.count("profiles") == 0
    # restored upstream later: the live record takes the stand-in's place and the person is back
    store.upsert_profile_records([_p(source_id="c7", email="g@x.org", ids={"crm_id": "7"})], "r3")
    res = _unify(store)
    assert (res.profiles, res.inactive) == (1, 0)
    assert [e for _p, e in _profiles(store)] == ["g@x.org"]


def test_a_merged_away_record_never_read_joins_its_deals_to_the_survivor(store: DataStore) -> None:
    store.upsert_profile_records([_p(source_id="c2", email="b@x.org", ids={"crm_id": "2"})], "r1")
    store.upsert_events([_ev_ids("d1", crm_id="1")], "r1")
    assert _unify(store).profiles == 2
    store.upsert_profile_records([_p(source_id="c1", merged_into="c2", ids={"crm_id": "1"})], "r2")
    res = _unify(store)
    assert (res.profiles, res.inactive) == (1, 0)
    owners = store.con.execute("SELECT DISTINCT profile_id FROM events").fetchall()
    assert owners == [(_profiles(store)[0][0],)], "the deal belongs to the survivor's person"


def test_a_stand_in_never_overwrites_a_stored_record(store: DataStore) -> None:
    store.upsert_profile_records([_p(source_id="c1", email="a@x.org", ids={"crm_id": "1"})], "r1")
    store.upsert_profile_records([_p(source_id="c1", deleted=True, ids={"crm_id": "1"})], "r2")
    row = store.con.execute("SELECT email FROM profile_records WHERE source_id = 'c1'").fetchall()
    assert row == [("a@x.org",)]
