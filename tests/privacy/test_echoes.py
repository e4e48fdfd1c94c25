"""Echoes in the core (``connector.store.echoes``): a source record whose platform id one of our
destinations created never keeps a person active by itself."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb
import pytest

from connector.identity.unify import unify
from connector.schema.records import validate_profile
from connector.store.datastore import DataStore
from connector.store.echoes import keep_created
from connector.store.purge import purge_profiles


def _put(store: DataStore, source: str, **raw: Any) -> None:
    store.upsert_profile_records([validate_profile(raw, source=source, region="GB")], "r")


def _inactive(store: DataStore) -> set[str]:
    unify(store, blocked=(), max_ids_per_kind=5, run_id="r")
    rows = store.con.execute(
        """SELECT i.value FROM inactive_profiles JOIN identities i USING (profile_id)
           WHERE i.kind = 'email'"""
    ).fetchall()
    return {str(r[0]) for r in rows}


def _pid(store: DataStore, email: str) -> str:
    row = store.con.execute(
        "SELECT profile_id FROM identities WHERE kind = 'email' AND value = ?", [email]
    ).fetchone()
    assert row is not None
    return str(row[0])


@pytest.fixture
def store(tmp_path: Path) -> DataStore:
    s = DataStore(tmp_path / "data.duckdb")
    for n in (1, 2, 3):
        _put(s, "crm", source_id=f"c{n}", email=f"p{n}@x.org")
    _put(s, "esp", source_id="k3", email="p3@x.org", ids={"klaviyo_id": "k3"})  # theirs
    unify(s, blocked=(), max_ids_per_kind=5, run_id="r")
    created = [(_pid(s, f"p{n}@x.org"), "klaviyo_id", f"k{n}") for n in (1, 2, 3)]
    keep_created(s.con, "klaviyo_out", created, "r")
    for n in (1, 2):  # the destination's profiles, read back by the Klaviyo source
        _put(s, "esp", source_id=f"k{n}", email=f"p{n}@x.org", ids={"klaviyo_id": f"k{n}"})
    return s


def test_only_ids_nobody_knew_are_kept_as_created(store: DataStore) -> None:
    rows = store.con.execute("SELECT kind, value FROM created_ids ORDER BY value").fetchall()
    assert rows == [("klaviyo_id", "k1"), ("klaviyo_id", "k2")]  # k3 was pulled first


def test_an_echo_does_not_keep_a_person_deleted_upstream(store: DataStore) -> None:
    assert _inactive(store) == set(), "echoes alone never make anyone inactive"
    for n in (1, 3):
        _put(store, "crm", source_id=f"c{n}", deleted=True)
    assert _inactive(store) == {"p1@x.org"}, "p3's Klaviyo profile is their own"
    # the echo is edited in Klaviyo (a new name): still our record, no revival
    _put(store, "esp", source_id="k1", email="p1@x.org", ids={"klaviyo_id": "k1"}, first_name="N")
    assert _inactive(store) == {"p1@x.org"}
    # restored upstream: back
    _put(store, "crm", source_id="c1", email="p1@x.org", updated_at="2999-01-01T00:00:00Z")
    assert _inactive(store) == set()


def test_an_erasure_purges_the_created_ids_of_the_person(store: DataStore) -> None:
    # learned ids are what tie a created id to its person in the graph
    store.con.execute("INSERT INTO learned_ids VALUES (?, 'klaviyo_id', 'k1', 'klaviyo_out')",
                      [_pid(store, "p1@x.org")])  # fmt: skip
    unify(store, blocked=(), max_ids_per_kind=5, run_id="r")
    purge_profiles(store, [_pid(store, "p1@x.org")])
    rows = store.con.execute("SELECT value FROM created_ids ORDER BY value").fetchall()
    assert rows == [("k2",)]


def test_a_store_from_before_created_ids_opens_and_gains_the_table(tmp_path: Path) -> None:
    path = tmp_path / "old.duckdb"
    DataStore(path).close()
    con = duckdb.connect(str(path))
    con.execute("DROP TABLE created_ids")
    con.close()
    store = DataStore(path)
    try:
        _put(store, "crm", source_id="c1", email="p1@x.org")
        assert _inactive(store) == set()
        assert store.con.execute("SELECT count(*) FROM created_ids").fetchone() == (0,)
    finally:
        store.close()
