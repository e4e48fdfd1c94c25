"""Identity resolution end to end over the data store: merges, guards, stable ids, explain."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from connector.identity import explain_profile, unify
from connector.schema.records import validate_event, validate_profile
from connector.store import DataStore
from connector.store.datastore import first_row

BLOCKED = ("test@test.com", "null", "0000000000")


@pytest.fixture
def store(tmp_path: Path) -> DataStore:
    s = DataStore(tmp_path / "data.duckdb")
    yield s
    s.close()


def add(store: DataStore, source: str, **raw: Any) -> None:
    store.upsert_profile_records([validate_profile(raw, source=source, region="GB")], "r1")


def run(store: DataStore, cap: int = 5) -> None:
    unify(store, blocked=BLOCKED, max_ids_per_kind=cap, run_id="r")


def pid_of(store: DataStore, source: str, source_id: str) -> str:
    row = first_row(
        store.con.execute(
            """SELECT m.profile_id FROM profile_records pr JOIN id_set_profile m USING (id_sig)
           WHERE pr.source = ? AND pr.source_id = ?""",
            [source, source_id],
        )
    )
    assert row is not None
    return str(row[0])


def test_same_email_in_different_case_is_one_profile(store: DataStore) -> None:
    add(store, "crm", source_id="1", email="Ann.Lee@Example.com")
    add(store, "shop", source_id="a", email="  ann.lee@example.COM")
    run(store)
    assert pid_of(store, "crm", "1") == pid_of(store, "shop", "a")
    assert store.count("profiles") == 1


def test_phone_in_several_formats_is_one_profile(store: DataStore) -> None:
    add(store, "crm", source_id="1", phone="07400 123456")
    add(store, "shop", source_id="a", phone="+44 7400 123456")
    add(store, "web", source_id="x", phone="0044-7400-123-456")
    run(store)
    assert len({pid_of(store, s, i) for s, i in (("crm", "1"), ("shop", "a"), ("web", "x"))}) == 1


def test_blocked_value_does_not_merge(store: DataStore) -> None:
    add(store, "crm", source_id="1", email="test@test.com", ids={"crm_id": "1"})
    add(store, "crm", source_id="2", email="TEST@test.com", ids={"crm_id": "2"})
    run(store)
    assert pid_of(store, "crm", "1") != pid_of(store, "crm", "2")
    emails = store.con.execute("SELECT email FROM profiles").fetchall()
    assert emails == [(None,), (None,)], "a blocked address is never a profile's email"


def test_chain_merges_into_one_profile(store: DataStore) -> None:
    add(store, "crm", source_id="A", email="a@example.com")
    add(store, "shop", source_id="B", email="a@example.com", phone="07400 111222")
    add(store, "web", source_id="C", phone="+447400111222", ids={"segment_user_id": "u-9"})
    run(store)
    ids = {pid_of(store, "crm", "A"), pid_of(store, "shop", "B"), pid_of(store, "web", "C")}
    assert len(ids) == 1


def test_events_with_two_ids_link_anonymous_to_known(store: DataStore) -> None:
    add(store, "crm", source_id="1", email="buyer@example.com", ids={"segment_user_id": "u1"})
    events = [
        {
            "source_event_id": "e1",
            "type": "product_viewed",
            "occurred_at": "2024-01-01T00:00:00Z",
            "ids": {"segment_anonymous_id": "anon-1"},
        },
        {
            "source_event_id": "e2",
            "type": "identify",
            "occurred_at": "2024-01-02T00:00:00Z",
            "ids": {"segment_anonymous_id": "anon-1", "segment_user_id": "u1"},
        },
    ]
    store.upsert_events([validate_event(e, source="web", region="GB") for e in events], "r1")
    run(store)
    owners = store.con.execute("SELECT DISTINCT profile_id FROM events").fetchall()
    assert owners == [(pid_of(store, "crm", "1"),)]


def test_cap_on_ids_of_one_kind_refuses_the_merge(store: DataStore) -> None:
    # a shared office phone on seven different people must not collapse them into one
    for n in range(7):
        add(store, "crm", source_id=str(n), email=f"person{n}@example.com", phone="020 7946 0958")
    run(store, cap=3)
    assert len({pid_of(store, "crm", str(n)) for n in range(7)}) > 1
    refused = first_row(store.con.execute("SELECT count(*) FROM merges WHERE NOT accepted"))
    assert refused is not None
    assert refused[0] > 0


def test_a_source_merge_is_never_shut_out_by_the_cap(store: DataStore) -> None:
    """Seven CRM contacts merged into one (HubSpot gives each merge a new id): the cap must not
    count the ids the CRM declared one person's, or every other record of that person (its
    copies in Klaviyo, events) is refused and lives on as a separate, activated person."""
    for n in range(1, 8):
        add(store, "crm", source_id=str(n), email=f"p{n}@x.org", ids={"crm_id": str(n)})
        add(store, "shop", source_id=f"s{n}", email=f"p{n}@x.org", ids={"shop_id": f"s{n}"})
    run(store)
    add(store, "crm", source_id="20", email="p1@x.org", ids={"crm_id": "20"})
    for n in range(1, 8):
        add(store, "crm", source_id=str(n), merged_into="20", ids={"crm_id": str(n)})
    store.con.execute("INSERT INTO created_ids SELECT 'shop_id', 's' || i, 'shop', 'r'"
                      " FROM range(1, 8) t(i)")  # fmt: skip
    run(store)
    refused = store.con.execute("SELECT note FROM merges WHERE NOT accepted").fetchall()
    assert refused == []
    assert (
        len({pid_of(store, "shop", f"s{n}") for n in range(1, 8)} | {pid_of(store, "crm", "20")})
        == 1
    )
    # a shared value the source never declared one person's is still capped
    for n in range(8):
        add(store, "crm", source_id=f"o{n}", email=f"o{n}@x.org", phone="020 7946 0958")
    run(store, cap=3)
    assert len({pid_of(store, "crm", f"o{n}") for n in range(8)}) > 1


def test_profile_ids_are_stable_across_runs(store: DataStore) -> None:
    add(store, "crm", source_id="1", email="a@example.com")
    add(store, "crm", source_id="2", email="b@example.com")
    run(store)
    first = {s: pid_of(store, "crm", s) for s in ("1", "2")}
    run(store)
    assert {s: pid_of(store, "crm", s) for s in ("1", "2")} == first
    # a new record joins the two: one id survives, the other is retired and points to it
    add(store, "shop", source_id="x", email="a@example.com", ids={"shop_id": "x"})
    add(store, "shop", source_id="y", email="b@example.com", ids={"shop_id": "x"})
    run(store)
    merged = pid_of(store, "crm", "1")
    assert merged == pid_of(store, "crm", "2")
    assert merged in first.values()
    retired = store.con.execute("SELECT profile_id, merged_into FROM retired_profiles").fetchall()
    assert retired == [(next(p for p in first.values() if p != merged), merged)]


def test_explain_shows_the_joining_identifiers(store: DataStore) -> None:
    add(store, "crm", source_id="A", email="ann@example.com")
    add(store, "shop", source_id="B", email="ann@example.com", phone="07400 111222")
    add(store, "web", source_id="C", phone="07400 111222")
    run(store)
    exp = explain_profile(store, pid_of(store, "crm", "A"))
    assert exp is not None
    assert exp.records == ["crm:A", "shop:B", "web:C"]
    vias = {(m[2], m[4]) for m in exp.merges}
    assert vias == {("email", True), ("phone", True)}
    assert all("ann@example.com" not in m[3] for m in exp.merges), "masked by default"
    revealed = explain_profile(store, pid_of(store, "crm", "A"), reveal=True)
    assert revealed is not None
    assert ("email", "ann@example.com") in revealed.identities


def test_partial_records_merge_instead_of_erasing(store: DataStore) -> None:
    # a Segment identify carries only the traits it sets: a later one must not erase the email
    add(
        store,
        "web",
        source_id="u1",
        email="a@example.com",
        ids={"segment_user_id": "u1"},
        traits={"plan": "pro"},
    )
    add(
        store,
        "web",
        source_id="u1",
        first_name="Ann",
        ids={"segment_user_id": "u1"},
        traits={"size": "M"},
    )
    add(store, "crm", source_id="c1", email="a@example.com")
    run(store)
    row = store.con.execute(
        "SELECT email, first_name, traits FROM profile_records WHERE source = 'web'"
    ).fetchall()
    assert row == [("a@example.com", "Ann", '{"plan":"pro","size":"M"}')]
    assert pid_of(store, "web", "u1") == pid_of(store, "crm", "c1")


def test_unknown_consent_never_overrides_an_explicit_statement(store: DataStore) -> None:
    add(
        store,
        "klaviyo",
        source_id="k1",
        email="c@example.com",
        consent={"email": "granted"},
        updated_at="2024-01-01T00:00:00Z",
    )
    add(
        store,
        "crm",
        source_id="c1",
        email="c@example.com",
        consent={"email": "unknown"},
        updated_at="2024-06-01T00:00:00Z",
    )
    add(
        store,
        "crm",
        source_id="d1",
        email="d@example.com",
        consent={"email": "granted"},
        updated_at="2024-01-01T00:00:00Z",
    )
    add(
        store,
        "shop",
        source_id="d2",
        email="d@example.com",
        consent={"email": "denied"},
        updated_at="2024-02-01T00:00:00Z",
    )
    run(store)
    rows = dict(store.con.execute("SELECT email, consent_email FROM profiles").fetchall())
    assert rows == {"c@example.com": "granted", "d@example.com": "denied"}
