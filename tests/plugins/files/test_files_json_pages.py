"""JSON lines as pages lose nothing (issue 14, item 2): the records a page gives back are the
objects of its lines, and a line the flat layout holds validates the same from its flat
columns (what the bulk rules read) as from the object (what the record path reads)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from cdp_files.readers import read_file, read_pages
from cdp_files.readers.json_pages import flat_object, json_pages
from connector.errors import SkippableError
from connector.schema.flat import page_records, unflatten
from connector.schema.records import PROFILE_FIELDS, validate_profile

FIELDS = frozenset(PROFILE_FIELDS)
texts = st.sampled_from(["a@example.org", " x ", "", "granted", "DENIED", "p1", "2024-01-01"])
values = st.none() | texts | st.text(max_size=6) | st.integers() | st.booleans()
keys = st.sampled_from([*PROFILE_FIELDS, "x_note", "ids.crm"])
nested = st.dictionaries(st.sampled_from(["email", "sms", "crm", "plan", "a.b"]), values)
objects = st.dictionaries(keys, values | nested, max_size=6)


def _outcome(raw: dict[str, Any]) -> Any:
    try:
        return validate_profile(raw, source="crm", region="US")
    except SkippableError as exc:
        return exc.reason


@settings(max_examples=150, deadline=None)
@given(st.lists(objects, max_size=12))
def test_pages_give_back_the_lines_objects(objs: list[dict[str, Any]]) -> None:
    items = [(obj, json.dumps(obj)) for obj in objs]
    back: list[dict[str, Any]] = []
    for item in json_pages(items, FIELDS):
        back += page_records(item, "source_id") if isinstance(item, pa.RecordBatch) else [item]
    assert back == objs


@settings(max_examples=300, deadline=None)
@given(objects)
def test_a_plain_object_validates_the_same_from_its_flat_columns(obj: dict[str, Any]) -> None:
    flat = flat_object(obj, FIELDS)
    if flat is not None:
        assert _outcome(unflatten(flat, "source_id")) == _outcome(obj)


CSV = (
    "source_id,email,ids.crm,consent.email,traits.plan,properties,x_note\n"
    "p1,a@example.org,1,granted,gold,,n\n"
    'p2, b@example.org ,,DENIED,  ,"{""a"": 1}",\n'
    "p3,,,,,{broken,\n"
    "p4,c@example.org\n"
    "p5,d@example.org,1,2,3,4,5,6,7\n"
    '"p6,e@example.org,"unbalanced\n'
    "p7,Zo\u00eb@example.org,\u00e9,unknown,,[],\n"
)
LINES = [
    '{"source_id": "p1", "email": "a@example.org", "consent": {"email": "granted"}}',
    '{"source_id": 2, "email": "b@example.org"}',
    "{broken",
    '{"source_id": "p3", "ids": {"crm": ""}, "traits": {"n": 1}}',
    "",
    '{"source_id": "p4", "email": " ", "properties": {"a": [1, 2.5, null]}, "revenue": 3.25}',
    '{"source_event_id": "e1", "type": "x", "occurred_at": "2024-01-01", "revenue": true}',
    '{"source_event_id": "e2", "type": "x", "properties": {"a": {"b": NaN}}, "revenue": 2}',
]


def test_csv_and_json_lines_pages_hold_the_records_the_file_reads_as(tmp_path: Path) -> None:
    (tmp_path / "a.csv").write_text(CSV, encoding="utf-8")
    (tmp_path / "a.jsonl").write_text("\n".join(LINES) + "\n", encoding="utf-8")
    for name in ("a.csv", "a.jsonl"):
        for key in ("source_id", "source_event_id"):
            path = tmp_path / name
            paged: list[dict[str, Any]] = []
            kinds = set()
            for item in read_pages(path, key):
                kinds.add(type(item).__name__)
                paged += page_records(item, key) if isinstance(item, pa.RecordBatch) else [item]
            assert paged == list(read_file(path, key))
            assert "RecordBatch" in kinds  # pages, not only records
