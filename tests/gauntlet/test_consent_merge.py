"""Consent precedence through the real data store and unify (issue 20, serious item 1).

Per channel: an undated denial always stands; otherwise the latest dated statement wins and a
denial wins a tie; an undated grant counts only when nothing else was said. Each case stores
records the way a pull does (``upsert_profile_records``, possibly over several pulls) and reads
the profile's consent back after ``unify``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.conftest import write_config

from cdp_meta.emulator import MetaEmulator
from cdp_meta.identifiers import meta_email
from connector.config import load_config
from connector.identity import unify
from connector.pipeline import Workspace, run_pipeline
from connector.plugin.spec import EmulatorOptions
from connector.schema.consent import prevailing
from connector.schema.records import validate_profile
from connector.sdk import sha256_hex
from connector.store import DataStore

T1, T2 = "2030-01-01T00:00:00Z", "2030-02-01T00:00:00Z"


@pytest.fixture
def store(tmp_path: Path) -> Iterator[DataStore]:
    s = DataStore(tmp_path / "data.duckdb")
    yield s
    s.close()


def _statement(source: str, sid: str, status: str, at: str | None) -> dict[str, Any]:
    raw: dict[str, Any] = {"source_id": sid, "email": "ann@example.org", "consent": {"ads": status}}
    if at is not None:
        raw["consent_at"] = at
    return {"source": source, "raw": raw}


def _ads_consent(store: DataStore, *pulls: list[dict[str, Any]]) -> str:
    for i, pull in enumerate(pulls):
        records = [validate_profile(r["raw"], source=r["source"], region="US") for r in pull]
        store.upsert_profile_records(records, f"r{i}")
        unify(store, blocked=(), max_ids_per_kind=5, run_id=f"r{i}")
    rows = store.con.execute("SELECT consent_ads FROM profiles").fetchall()
    assert len(rows) == 1
    return str(rows[0][0])


CASES = {
    "lone undated denial": ([("crm", "denied", None)], "denied"),
    "undated denial over a later dated grant": (
        [("crm", "denied", None), ("shop", "granted", T2)],
        "denied",
    ),
    "undated denial over an undated grant": (
        [("crm", "granted", None), ("shop", "denied", None)],
        "denied",
    ),
    "denial at the same instant as a grant": (
        [("crm", "granted", T1), ("shop", "denied", T1)],
        "denied",
    ),
    "grant at the same instant as a denial (order reversed)": (
        [("crm", "denied", T1), ("shop", "granted", T1)],
        "denied",
    ),
    "later dated grant over an earlier dated denial": (
        [("crm", "denied", T1), ("shop", "granted", T2)],
        "granted",
    ),
    "dated denial over an undated grant": (
        [("crm", "granted", None), ("shop", "denied", T1)],
        "denied",
    ),
    "dated grant over an undated grant": (
        [("crm", "granted", None), ("shop", "granted", T1)],
        "granted",
    ),
    "lone undated grant": ([("crm", "granted", None)], "granted"),
    "unknown is no statement": ([("crm", "unknown", T2), ("shop", "denied", None)], "denied"),
}


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("pulls", ["one pull", "one pull per source"])
def test_consent_precedence_across_sources(store: DataStore, case: str, pulls: str) -> None:
    statements, expected = CASES[case]
    records = [_statement(src, src, status, at) for src, status, at in statements]
    batches = [records] if pulls == "one pull" else [[r] for r in records]
    assert _ads_consent(store, *batches) == expected
    assert prevailing([(s, _ts(at)) for _src, s, at in statements]) == expected


def test_new_version_of_a_record_keeps_its_denial_undated(store: DataStore) -> None:
    """A record first granted at T1, then pulled again with an undated denial: the stored pair
    must be (denied, no date), not the new status with the old date, or a later grant from
    another source would beat it."""
    got = _ads_consent(
        store,
        [_statement("crm", "c1", "granted", T1)],
        [_statement("crm", "c1", "denied", None)],
        [_statement("shop", "s1", "granted", T2)],
    )
    assert got == "denied"
    row = store.con.execute(
        "SELECT consent_ads, consent_ads_at FROM profile_records WHERE source = 'crm'"
    ).fetchall()
    assert row == [("denied", None)]


def test_versions_of_one_record_in_one_batch_fold_by_precedence(store: DataStore) -> None:
    """Two versions of one record in one pull (a partial-record source): a denial at the same
    instant, or undated, is not lost to the grant that follows it in the batch."""
    same = [_statement("crm", "c1", "denied", T1), _statement("crm", "c1", "granted", T1)]
    undated = [_statement("crm", "c2", "denied", None), _statement("crm", "c2", "granted", T2)]
    assert _ads_consent(store, same) == "denied"
    store.con.execute("DELETE FROM profile_records")
    assert _ads_consent(store, undated) == "denied"


def test_a_later_dated_version_of_a_record_can_grant_again(store: DataStore) -> None:
    """Dated statements still move both ways: a re-subscription after a dated unsubscribe."""
    got = _ads_consent(
        store, [_statement("crm", "c1", "denied", T1)], [_statement("crm", "c1", "granted", T2)]
    )
    assert got == "granted"


def _ts(at: str | None) -> Any:
    from connector.schema.normalise import parse_timestamp

    return None if at is None else parse_timestamp(at, field="consent_at")


def _write_jsonl(path: Path, rows: list[dict[str, Any]]) -> None:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


def _hashed(email: str) -> str:
    return sha256_hex(meta_email(email))


def _audience_hashes(meta: MetaEmulator) -> set[str]:
    state = httpx.get(f"{meta.base_url}/__emulator__/state", timeout=30).json()
    return {m["EMAIL"] for a in state["audiences"].values() for m in a["members"] if "EMAIL" in m}


def test_email_change_with_revocation_leaves_no_activatable_old_address(tmp_path: Path) -> None:
    """Issue 20: a person changes address and withdraws ads consent in one update. Their orders
    were recorded under the old address; the old address must stay linked to them (and so be
    denied), not become an events-only profile with consent unknown in a not_denied audience."""
    with MetaEmulator(EmulatorOptions(limits="off")) as meta:
        cfg = write_config(
            tmp_path,
            f"""
[destinations.meta]
plugin = "meta"
access_token = {{ env = "META_TOKEN" }}
ad_account_id = "act_1001"
base_url = "{meta.base_url}"
consent_policy = "not_denied"
""",
        )
        people = [f"p{i}" for i in range(6)]
        profiles = [
            {
                "source_id": p,
                "email": f"{p}.old@example.org",
                "updated_at": "2011-06-01T00:00:00Z",
                "consent": {"ads": "granted"},
            }
            for p in people
        ]
        orders = [
            {
                "source_event_id": f"{p}-{n}",
                "type": "order_completed",
                "occurred_at": f"2011-0{n + 1}-1{i}T10:00:00Z",
                "email": f"{p}.old@example.org",  # the shop knows the address only
                "revenue": 40 * (i + 1),
            }
            for i, p in enumerate(people)
            for n in range(i % 3 + 1)
        ]
        _write_jsonl(tmp_path / "data" / "profiles" / "crm.jsonl", profiles)
        _write_jsonl(tmp_path / "data" / "events" / "shop.jsonl", orders)
        env = {"META_TOKEN": MetaEmulator.access_token}

        def run() -> None:
            ws = Workspace(load_config(cfg, env=env))
            try:
                assert run_pipeline(ws).failures == []
            finally:
                ws.close()

        run()
        before = _audience_hashes(meta)
        old = {p: _hashed(f"{p}.old@example.org") for p in people}
        assert set(old.values()) <= before, "every granted person was activated"
        changed = {**profiles[0], "email": "p0.new@example.org", "updated_at": "2011-09-01"}
        changed["consent"] = {"ads": "denied"}
        _write_jsonl(tmp_path / "data" / "profiles" / "crm2.jsonl", [changed])
        run()
        after = _audience_hashes(meta)
    assert old["p0"] not in after, "the old address of a person who revoked is still activated"
    assert _hashed("p0.new@example.org") not in after
    assert {old[p] for p in people[1:]} <= after, "nobody else lost their place"


T3 = "2030-03-01T00:00:00Z"


def _pull_through(store: DataStore, path: str, pulls: list[list[dict[str, Any]]]) -> None:
    """Each pull stored through one of the store's two paths (records, or an Arrow chunk),
    then unified."""
    from connector.store.profiles_in import profile_table, upsert_profile_table

    for i, pull in enumerate(pulls):
        records = [validate_profile(r["raw"], source=r["source"], region="US") for r in pull]
        if path == "records":
            store.upsert_profile_records(records, f"r{i}")
        else:
            upsert_profile_table(store.con, profile_table(records), f"r{i}")
        unify(store, blocked=(), max_ids_per_kind=5, run_id=f"r{i}")


def _edited(source: str, sid: str, status: str, updated_at: str) -> dict[str, Any]:
    """A record whose consent is dated only by its update time (no consent time given)."""
    raw: dict[str, Any] = {"source_id": sid, "email": "ann@example.org", "consent": {"ads": status}}
    raw["updated_at"] = updated_at
    return {"source": source, "raw": raw}


@pytest.mark.parametrize("path", ["records", "arrow"])
def test_an_edit_does_not_re_date_an_old_grant_over_a_later_denial(
    store: DataStore, path: str
) -> None:
    """Found by an exploratory pass: a person granted in the CRM (dated by the record's update,
    T1) opts out in the shop at T2; an unrelated edit to the CRM record (a new name at T3) used
    to re-date the unchanged grant to T3, so it beat the opt-out and the person was put back on
    every e-mail list. A repeated status keeps its stored date; both store paths agree."""
    pulls = [
        [_edited("crm", "c1", "granted", T1)],
        [_statement("shop", "s1", "denied", T2)],
        [_edited("crm", "c1", "granted", T3)],
    ]
    _pull_through(store, path, pulls)
    assert store.con.execute("SELECT consent_ads FROM profiles").fetchall() == [("denied",)]
    stored = store.con.execute(
        "SELECT consent_ads_at FROM profile_records WHERE source = 'crm'"
    ).fetchall()
    assert [str(r[0])[:10] for r in stored] == ["2030-01-01"]


def test_versions_in_one_batch_keep_the_first_date_of_a_repeated_status(store: DataStore) -> None:
    """The same rule inside one pull (two versions of the CRM record in one batch)."""
    got = _ads_consent(
        store,
        [_statement("shop", "s1", "denied", T2)],
        [_edited("crm", "c1", "granted", T1), _edited("crm", "c1", "granted", T3)],
    )
    assert got == "denied"


def test_a_status_change_dated_by_the_update_still_counts(store: DataStore) -> None:
    """Only a repeated status keeps its date: a denial that arrives with an edit at T3 is
    dated T3 and beats the shop's grant at T2."""
    got = _ads_consent(
        store,
        [_edited("crm", "c1", "granted", T1)],
        [_statement("shop", "s1", "granted", T2)],
        [_edited("crm", "c1", "denied", T3)],
    )
    assert got == "denied"
    got_back = _ads_consent(store, [_edited("crm", "c1", "granted", "2030-04-01T00:00:00Z")])
    assert got_back == "granted"  # and a re-grant at T4 after it


def test_a_repeated_opt_out_is_dated_by_its_version(store: DataStore) -> None:
    """Found in review: HubSpot states only "no", dated by the contact's update, and a
    re-subscribe there reads as no statement. Opted out at T1, granted in the shop at T2, opted
    out again at T3: the repeated denial is the newest statement and must win; keeping its
    first date (as a repeated grant does) would let the shop's grant activate the person."""
    got = _ads_consent(
        store,
        [_edited("crm", "c1", "denied", T1)],
        [_statement("shop", "s1", "granted", T2)],
        [_edited("crm", "c1", "denied", T3)],
    )
    assert got == "denied"


@pytest.mark.parametrize("path", ["records", "arrow"])
def test_two_versions_in_one_batch_over_a_stored_grant_keep_its_date(
    store: DataStore, path: str
) -> None:
    """Found in review: the CRM grant is stored (T1), the shop denies at T2, then one pull
    carries two edits of the CRM record (T3, 2030-04-01). Folded together first, the batch's
    grant kept the first edit's date and beat the shop's denial; the versions now fold over
    the stored grant, as they would in one pull each."""
    pulls = [
        [_edited("crm", "c1", "granted", T1)],
        [_statement("shop", "s1", "denied", T2)],
        [
            _edited("crm", "c1", "granted", T3),
            _edited("crm", "c1", "granted", "2030-04-01T00:00:00Z"),
        ],
    ]
    _pull_through(store, path, pulls)
    assert store.con.execute("SELECT consent_ads FROM profiles").fetchall() == [("denied",)]
