"""Where a chunk ends does not change what is stored: a stream of versions of a few keys,
stored in chunks of 1, 3 or all at once, along the record path (``store_profile_records``) and
the bulk path (``store_profile_chunk``, Arrow rows and records mixed), leaves the same
profile_records, superseded_ids and tombstones rows; of whole versions, each key's last one.

Each record is judged "unchanged" against the store its key's earlier records left, so a key's
old version said again after a newer one is stored (the stream's last version wins), in the
same chunk as across a chunk boundary.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from connector.pipeline.pull_profiles import (
    ProfileChunk,
    store_profile_chunk,
    store_profile_records,
)
from connector.schema.models import ConsentStatus
from connector.schema.records import ProfileRecord
from connector.store.datastore import DataStore
from connector.store.profiles_in import profile_table

SETTINGS = settings(
    max_examples=int(os.environ.get("CHUNK_EXAMPLES", "20")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TABLES = {
    "profile_records": "source, source_id",
    "superseded_ids": "source, source_id, id_key",
    "tombstones": "source, source_id",
}
SIZES = (1, 3, None)  # None: the whole stream in one chunk
_START = datetime.now(UTC).replace(tzinfo=None)
DAYS = [datetime(2024, 1, d, tzinfo=UTC) for d in (1, 2, 3)]
KEYS = st.sampled_from(["k1", "k2", "k3"])


def _record(source_id: str, **values: Any) -> ProfileRecord:
    fields: dict[str, Any] = {
        "source": "crm",
        "source_id": source_id,
        "email": None,
        "phone": None,
        "ids": {},
        "first_name": None,
        "last_name": None,
        "city": None,
        "postal_code": None,
        "country": None,
        "created_at": None,
        "updated_at": None,
        "consent": {},
        "traits": {},
    }
    return ProfileRecord(**(fields | values))


@st.composite
def versions(draw: st.DrawFn) -> ProfileRecord:
    """A partial version of a key, or (rarely) its tombstone."""
    key = draw(KEYS)
    day = st.none() | st.sampled_from(DAYS)
    kind = draw(st.sampled_from(["live"] * 6 + ["deleted", "merged"]))
    if kind != "live":
        return _record(
            key,
            ids=draw(st.sampled_from([{}, {"crm": "1"}])),
            deleted=kind == "deleted",
            merged_into="k9" if kind == "merged" else None,
            deleted_at=draw(day),
        )
    status = st.sampled_from([ConsentStatus.GRANTED, ConsentStatus.DENIED])
    return _record(
        key,
        email=draw(st.sampled_from([None, "a@example.org", "b@example.org"])),
        phone=draw(st.sampled_from([None, "+14155550123"])),
        ids=draw(st.sampled_from([{}, {"crm": "1"}, {"crm": "2"}])),
        first_name=draw(st.sampled_from([None, "Ann", "Bo"])),
        updated_at=draw(day),
        consent=draw(st.sampled_from([{}, {"email": (draw(status), draw(day))}])),
        traits=draw(st.sampled_from([{}, {"plan": "gold"}, {"plan": "silver"}, {"tier": "a"}])),
    )


# whole versions: every field a version has is set, so the last one stored is all that shows
WHOLE = [
    _record(
        "k1",
        email=email,
        ids={"crm": crm},
        first_name=name,
        updated_at=day,
        traits={"plan": plan},
    )
    for email, crm, name, day, plan in [
        ("a@example.org", "1", "Ann", DAYS[0], "gold"),
        ("b@example.org", "1", "Ann", DAYS[1], "gold"),
        ("a@example.org", "2", "Bo", DAYS[2], "silver"),
    ]
]


@st.composite
def whole_versions(draw: st.DrawFn) -> ProfileRecord:
    return replace(draw(st.sampled_from(WHOLE)), source_id=draw(st.sampled_from(["k1", "k2"])))


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DataStore]:
    root: Path = tmp_path_factory.mktemp("chunkorder")
    data = DataStore(root / "store.duckdb")
    yield data
    data.close()


def _bulk_chunk(records: Sequence[ProfileRecord], start: int) -> ProfileChunk:
    """Live records at even stream positions as Arrow rows, the rest as records."""
    rows = [
        (start + i, r) for i, r in enumerate(records) if (start + i) % 2 == 0 and not r.tombstone
    ]
    rest = [(start + i, r) for i, r in enumerate(records) if (start + i, r) not in rows]
    table = profile_table([r for _, r in rows])
    table = table.append_column("idx", pa.array([i for i, _ in rows], pa.int64()))
    return ProfileChunk(table, [r for _, r in rest], [i for i, _ in rest])


def _parsed(column: str, value: Any) -> Any:
    """Traits as what they say: their JSON text differs between a key's records merged in one
    chunk (Python's ``json.dumps``) and one after another (DuckDB's ``json_merge_patch``)."""
    return json.loads(value) if column == "traits" and value is not None else value


def _stored(
    data: DataStore,
    seed: Sequence[ProfileRecord],
    stream: Sequence[ProfileRecord],
    bulk: bool,
    size: int | None,
) -> dict[str, list[tuple[Any, ...]]]:
    """The tables after storing ``seed`` then ``stream`` in chunks of ``size``, in a transaction
    rolled back after (an empty store for the next case, without a write to disk per
    statement); an undated tombstone's date (when it was received) is masked."""
    data.con.execute("BEGIN")
    ws: Any = SimpleNamespace(data=data)
    store_profile_records(ws, seed, "run-0")
    step = size or len(stream) or 1
    for start in range(0, len(stream), step):
        part = stream[start : start + step]
        if bulk:
            store_profile_chunk(ws, _bulk_chunk(part, start), "run-1")
        else:
            store_profile_records(ws, part, "run-1")
    out = {}
    for table, key in TABLES.items():
        found = data.con.execute(f"SELECT * FROM {table} ORDER BY {key}")
        names = [d[0] for d in found.description or []]
        rows = [
            tuple(_parsed(n, v) for n, v in zip(names, r, strict=True)) for r in found.fetchall()
        ]
        if table == "tombstones":
            rows = [(*r[:2], "received" if r[2] and r[2] >= _START else r[2], *r[3:]) for r in rows]
        out[table] = rows
    out["versions"] = data.con.execute(
        """SELECT source_id, email, ids, first_name, traits->>'plan', updated_at
           FROM profile_records ORDER BY source_id"""
    ).fetchall()
    data.con.execute("ROLLBACK")
    return out


CHUNKINGS = st.tuples(st.booleans(), st.sampled_from(SIZES))  # (bulk path, chunk size)
# a stored grant stated again with a date of its own, after a version that moved updated_at to
# that date: folded in one chunk, the upsert read the other version's updated_at as the date of
# the statement and kept the stored date (CI, session 19)
GRANTED = ConsentStatus.GRANTED
REGRANT = (
    [_record("k2", consent={"email": (GRANTED, DAYS[0])})],
    [
        _record("k1"),
        _record("k2", updated_at=DAYS[1], traits={"plan": "gold"}),
        _record("k2", first_name="Ann", consent={"email": (GRANTED, DAYS[1])}),
    ],
)


@SETTINGS
@example(seed=[WHOLE[0]], stream=[WHOLE[1], WHOLE[0]], chunking=(False, None))
@example(seed=[WHOLE[0]], stream=[WHOLE[1], WHOLE[0]], chunking=(True, 3))
@example(seed=REGRANT[0], stream=REGRANT[1], chunking=(False, 3))
@example(seed=REGRANT[0], stream=REGRANT[1], chunking=(True, None))
@given(st.lists(versions(), max_size=3), st.lists(versions(), min_size=1, max_size=6), CHUNKINGS)
def test_what_is_stored_does_not_depend_on_where_chunks_end(
    store: DataStore,
    seed: list[ProfileRecord],
    stream: list[ProfileRecord],
    chunking: tuple[bool, int | None],
) -> None:
    """Any chunking, on either path, stores what the records stored one at a time do."""
    expected = _stored(store, seed, stream, bulk=False, size=1)
    assert _stored(store, seed, stream, *chunking) == expected


@SETTINGS
@example(seed=[WHOLE[0]], stream=[WHOLE[1], WHOLE[0]], chunking=(False, None))
@example(seed=[WHOLE[0]], stream=[WHOLE[1], WHOLE[0]], chunking=(True, None))
@given(
    st.lists(whole_versions(), max_size=3),
    st.lists(whole_versions(), min_size=1, max_size=6),
    CHUNKINGS,
)
def test_the_last_version_of_a_key_wins(
    store: DataStore,
    seed: list[ProfileRecord],
    stream: list[ProfileRecord],
    chunking: tuple[bool, int | None],
) -> None:
    last = {r.source_id: r for r in [*seed, *stream]}  # folded in stream order
    expected = sorted(
        (k, r.email, f'{{"crm": "{r.ids["crm"]}"}}', r.first_name, r.traits["plan"],
         r.updated_at.replace(tzinfo=None) if r.updated_at else None)
        for k, r in last.items()
    )  # fmt: skip
    assert _stored(store, seed, stream, *chunking)["versions"] == expected
