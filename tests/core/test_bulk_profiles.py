"""Profiles in bulk store exactly what record-at-a-time validation stores (issue 14, item 2).

A page of profile records validated in bulk (``accept_page``) and stored through
``store_profile_chunk`` must leave exactly the profile_records, superseded_ids and tombstones
rows, quarantine exactly the records with exactly the reasons and references, count the same
new and unchanged records and move the cursor to exactly the mark that validating its rows one
by one (``accept_chunk`` over ``page_records``) and storing them as records gives, over a store
that already holds earlier versions (and tombstones) of some of them.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connector.pipeline.accept import PullContext, accept_chunk
from connector.pipeline.bulk_profiles import validate_profiles
from connector.pipeline.pull_pages import accept_page
from connector.pipeline.pull_profiles import (
    ProfileChunk,
    store_profile_chunk,
    store_profile_records,
)
from connector.plugin.spec import Stream
from connector.schema.flat import page_records
from connector.store.datastore import DataStore

STREAM = Stream("profiles", "profiles", "timestamp", "updated_at")
HORIZON = datetime(2030, 1, 1, tzinfo=UTC)
_START = datetime.now(UTC).replace(tzinfo=None)
SETTINGS = settings(
    max_examples=int(os.environ.get("BULK_EXAMPLES", "60")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TABLES = {
    "profile_records": "source, source_id",
    "superseded_ids": "source, source_id, id_key",
    "tombstones": "source, source_id",
}


class _Quarantine:
    """Collects what the pull would quarantine: (reason, reference, record as read)."""

    def __init__(self) -> None:
        self.items: list[tuple[str, str, Any]] = []

    def add(self, stream: str, reason: str, ref: str, raw: Any) -> None:
        self.items.append((reason, ref, raw))

    def flush(self) -> None:
        """Nothing to write: the items stay for the test to compare."""


def _context(suppress: str | None = None) -> PullContext:
    config = SimpleNamespace(identity=SimpleNamespace(default_region="US"))
    check = None if suppress is None else (lambda rec: rec.email == suppress)
    return PullContext(
        SimpleNamespace(config=config),  # type: ignore[arg-type]
        "crm",
        None,  # type: ignore[arg-type]
        "run-1",
        False,
        _Quarantine(),  # type: ignore[arg-type]
        HORIZON,
        None,
        check,
    )


def _store_records(store: DataStore, good: list[Any], run_id: str) -> tuple[int, int]:
    """What the pull stores for a chunk of records (the record path)."""
    return store_profile_records(SimpleNamespace(data=store), good, run_id)  # type: ignore[arg-type]


def _dump(store: DataStore) -> dict[str, list[tuple[Any, ...]]]:
    """The tables a profile chunk writes; an undated tombstone's date (when it was received)
    is masked, since the two paths store it a moment apart."""
    out = {}
    for table, key in TABLES.items():
        rows = store.con.execute(f"SELECT * FROM {table} ORDER BY {key}").fetchall()
        if table == "tombstones":
            rows = [(*r[:2], "received" if r[2] and r[2] >= _START else r[2], *r[3:]) for r in rows]
        out[table] = rows
    return out


@pytest.fixture(scope="module")
def stores(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[DataStore, DataStore]]:
    root: Path = tmp_path_factory.mktemp("bulkprof")
    one, bulk = DataStore(root / "one.duckdb"), DataStore(root / "bulk.duckdb")
    yield one, bulk
    one.close()
    bulk.close()


def _both(
    stores: tuple[DataStore, DataStore],
    seed: pa.Table | None,
    page: pa.Table,
    suppress: str | None = None,
) -> None:
    """Bulk and record-at-a-time give the same stored rows, quarantine, mark and counts."""
    one_store, bulk_store = stores
    for store in stores:
        for table in TABLES:
            store.con.execute(f"DELETE FROM {table}")
        if seed is not None:  # earlier versions, stored the same way in both
            good, _ = accept_chunk(
                _context(), STREAM, page_records(seed, "source_id"), 0, {"suppressed": 0}, None
            )
            _store_records(store, good, "run-0")
    one, bulk = _context(suppress), _context(suppress)
    one_stats, bulk_stats = {"suppressed": 0}, {"suppressed": 0}
    records = page_records(page, "source_id")
    good, one_mark = accept_chunk(one, STREAM, records, 10, one_stats, "2000-01-01T00:00:00Z")
    chunk, bulk_mark = accept_page(bulk, STREAM, page, 10, bulk_stats, "2000-01-01T00:00:00Z")
    assert isinstance(chunk, ProfileChunk)
    assert bulk.quarantine.items == one.quarantine.items  # type: ignore[attr-defined]
    assert bulk_mark == one_mark
    assert bulk_stats == one_stats
    one_counts = _store_records(one_store, good, "run-1")
    ws = SimpleNamespace(data=bulk_store)
    assert store_profile_chunk(ws, chunk, "run-1") == one_counts  # type: ignore[arg-type]
    assert _dump(bulk_store) == _dump(one_store)


# ---- hostile values, column by column ----------------------------------------------------

text = st.text(max_size=12)
stamps = st.datetimes(
    min_value=datetime(900, 1, 1), max_value=datetime(9999, 12, 30), timezones=st.just(None)
).flatmap(
    lambda d: st.sampled_from(
        [
            d.isoformat() + "Z",
            d.isoformat(sep=" ", timespec="minutes"),
            d.isoformat(timespec="seconds") + "+05:30",
            d.date().isoformat(),
            " " + d.isoformat() + "Z",
            d.isoformat() + "+0530",
        ]
    )
)
dates = st.sampled_from(
    ["2024-01-01T00:00:00Z", "2024-06-01T12:00:00Z", "2024-06-01T12:00:00+02:00", "2024-03-01"]
)
STATUS = st.sampled_from(
    ["granted", "denied", "unknown", "GRANTED", "Denied", "unKnown", " denied", "denied ",
     "yes", "no", "", "DEN\u0130ED", "\u212aunknown", "opt_out", "granted\n", "true"]
)  # fmt: skip
VALUES: dict[str, st.SearchStrategy[Any]] = {
    "email": st.sampled_from(
        [
            "a@example.org",
            "A@Example.ORG",
            " a@example.org",
            "a b@example.org",
            "bad@",
            "\uff4aohn@example.com",
            "ren\ufffde@x.org",
            "",
            "b@example.org\n",
            "x" * 600,
        ]
    )
    | text,
    "phone": st.sampled_from(
        [
            "(415) 555-0123",
            "+1 212 555 0100 ext. 12",
            "+44 20 7946 0958",
            "123",
            "",
            "415-555-CALL",
            "4155550123x",
            "+1 (415) 555-0199",
        ]
    )
    | text,
    "ids.crm": st.sampled_from(["1", " 2", 'q"x', "a\\b", "\ufffd", "x" * 300, "", "\u00e9"])
    | text,
    "ids.shop_id": st.sampled_from(["s1", "", "2 "]),
    "first_name": st.sampled_from(["Ann", "Jos\u00e9", " Bo", "x" * 200, "", "\u0000"]) | text,
    "last_name": text,
    "city": st.sampled_from(["Paris", "\u00c5rhus", "City  "]),
    "postal_code": st.sampled_from(["75001", "x" * 40, "", "SW1A 1AA"]),
    "country": st.sampled_from(["US", "us", "United States", "Narnia", "uk", "", " fr", "DE"]),
    "created_at": stamps | st.sampled_from(["", "1700000000", "2024-02-30", "soon"]),
    "updated_at": dates | stamps | st.sampled_from(["", "1700000000", "2031-01-01T00:00:00Z"]),
    "consent.email": STATUS,
    "consent.sms": STATUS,
    "consent.ads": STATUS,
    "consent_at": dates | st.sampled_from(["", "yesterday", "1700000000"]),
    "traits.plan": st.sampled_from(["gold", " ", "\u3000", "", "x" * 70_000]) | text,
    "traits.note": text,
    "deleted": st.sampled_from(
        ["true", "false", "0", "no", "N", "yes", " false", "0.0", "fal\u017fe", ""]
    ),
    "merged_into": st.sampled_from(["p1", "p2", "", " "]),
    "deleted_at": dates,
}
IDS = st.sampled_from(["p1", "p2", "p3", " p4", "", "p\ufffd"]) | text
# values the bulk rules accept, so that pages mix both paths
CLEAN = {
    "email": st.sampled_from(["a@example.org", "B@Example.org", "c@example.org"]),
    "phone": st.sampled_from(["(415) 555-0123", "+44 20 7946 0958", "+1 (415) 555-0199"]),
    "ids.crm": st.sampled_from(["1", "2", "x-9"]),
    "first_name": st.sampled_from(["Ann", "Bo"]),
    "country": st.sampled_from(["US", "us", "United States", "uk"]),
    "created_at": dates,
    "updated_at": dates,
    "consent.email": st.sampled_from(["granted", "denied", "unknown", "GRANTED", "Denied"]),
    "consent.sms": st.sampled_from(["granted", "denied"]),
    "consent.ads": st.sampled_from(["denied", "unKnown"]),
    "consent_at": dates,
    "traits.plan": st.sampled_from(["gold", "silver"]),
    "deleted": st.sampled_from(["false", "0", "no", "N", "0.0", "F"]),
    "last_name": st.sampled_from(["Lee", "O'Neil"]),
    "city": st.sampled_from(["Paris", "Oslo"]),
    "postal_code": st.sampled_from(["75001", "SW1A 1AA"]),
    "traits.note": st.sampled_from(["vip", "a\u00e9b"]),
    "merged_into": st.none(),
    "ids.shop_id": st.sampled_from(["s1", "s2"]),
}


@st.composite
def pages(draw: st.DrawFn) -> pa.Table:
    columns = draw(st.sets(st.sampled_from(sorted(VALUES)), min_size=1))
    if not draw(st.booleans()):  # tombstone columns in only some pages
        columns -= {"deleted", "merged_into", "deleted_at"}
    clean = draw(st.sampled_from([0.0, 0.9, 1.0]))  # the share of values drawn clean

    def value(column: str) -> Any:
        if column in CLEAN and draw(st.floats(0, 1)) < clean:
            return draw(st.none() | CLEAN[column])
        return draw(st.none() | VALUES[column])

    n = draw(st.integers(1, 8))
    ids = st.sampled_from(["p1", "p2", "p3"]) if clean else IDS
    data: dict[str, Any] = {"source_id": [draw(ids) for _ in range(n)]}
    data |= {c: [value(c) for _ in range(n)] for c in sorted(columns)}
    if "deleted" in data and draw(st.booleans()):  # a typed flag, as Parquet writers make
        data["deleted"] = pa.array([draw(st.none() | st.booleans()) for _ in range(n)])
    if draw(st.booleans()):  # typed timestamps, as Parquet holds them
        zone = draw(st.sampled_from([None, "UTC", "+05:30"]))
        moments = st.datetimes(
            min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30)
        ) | st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2029, 1, 1))
        data["updated_at"] = pa.array(
            [draw(st.none() | moments) for _ in range(n)], pa.timestamp("us", tz=zone)
        )
    return pa.table(data)


@SETTINGS
@given(st.none() | pages(), pages(), st.sampled_from([None, "a@example.org"]))
def test_bulk_profiles_store_what_records_store_on_hostile_pages(
    stores: tuple[DataStore, DataStore], seed: pa.Table | None, page: pa.Table, suppress: str | None
) -> None:
    _both(stores, seed, page, suppress)


def test_a_clean_page_is_accepted_in_bulk_and_agrees(
    stores: tuple[DataStore, DataStore],
) -> None:
    n = 300
    page = pa.table(
        {
            "source_id": [f"c{i % 250}" for i in range(n)],  # 50 keys twice: folded in a chunk
            "email": [f"Person{i % 120}@Example.org" for i in range(n)],
            "phone": ["(415) 555-0123" if i % 3 else None for i in range(n)],
            "ids.crm": [str(i % 250) for i in range(n)],
            "first_name": ["Ann"] * n,
            "country": ["United States" if i % 2 else "de" for i in range(n)],
            "updated_at": [f"2024-01-{1 + i % 28:02d}T10:00:00Z" for i in range(n)],
            "consent.email": ["granted" if i % 4 else "DENIED" for i in range(n)],
            "consent.sms": ["denied" if i % 5 else None for i in range(n)],
            "consent_at": [None if i % 2 else "2023-05-01T00:00:00+02:00" for i in range(n)],
            "traits.plan": ["gold" if i % 2 else None for i in range(n)],
            "deleted": ["false"] * n,
        }
    )
    bulk = validate_profiles(page, source="crm", region="US", horizon=HORIZON)
    assert len(bulk.exact) == 0  # no row left to Python
    assert bulk.accepted.num_rows == n
    # over earlier versions: other addresses (superseded), undated denials, a tombstone
    seed = pa.table(
        {
            "source_id": [f"c{i}" for i in range(0, 250, 7)],
            "email": [f"old{i}@example.org" for i in range(0, 250, 7)],
            "consent.email": ["denied"] * 36,
            "deleted": ["true" if i % 2 else "false" for i in range(36)],
        }
    )
    _both(stores, seed, page)
    _both(stores, page, page)  # read again: all unchanged
