"""Hostile files: poison lines, bombs, encodings and CSV quoting cost one quarantined record each.

Issue 20 found that one deeply nested line or one out-of-range offset failed every run, that a
small gzip or Parquet file could expand into gigabytes, that Latin-1 and BOM'd exports were
read wrong, that a stray quote swallowed the rows after it, and that a truncated Segment
archive file moved the cursor past its unread events. Every test here failed on that code.
"""

from __future__ import annotations

import gzip
import json
import logging
import math
import os
import tracemalloc
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from tests.gauntlet import figures

from cdp_files.readers import read_file
from cdp_files.settings import FilesSettings
from cdp_files.source import STREAMS, FilesSource
from cdp_segment.archive import ArchiveStore, event_mapper, profile_mapper, read_archive
from connector.errors import SkippableError
from connector.schema.normalise import normalise_email, normalise_phone, parse_timestamp
from connector.schema.rawinput import InputLimits
from connector.schema.records import validate_event, validate_profile
from connector.testing.context import make_context

DEEP = "[" * 5_000 + "]" * 5_000
DAY = 1_740_873_600_000


def _invalid(rows: list[dict[str, Any]]) -> list[str]:
    return [str(r["_invalid"]) for r in rows if "_invalid" in r]


def _good(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [r for r in rows if "_invalid" not in r]


def _record(kind: str, n: int) -> None:
    figures.record("hostile", kind, {"inputs": n, "crashes": 0})


# ---- serious item 4: one poison record ---------------------------------------------------


def test_deeply_nested_json_line_is_quarantined_and_the_file_goes_on(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    good = {"source_event_id": "e1", "type": "page_viewed", "occurred_at": "2025-01-01", "ids": {}}
    deep_props = {
        **good,
        "source_event_id": "e2",
        "properties": {"x": json.loads("[" * 900 + "]" * 900)},
    }
    path.write_text(
        "\n".join([json.dumps(good), f'{{"properties": {DEEP}}}', json.dumps(deep_props)]) + "\n"
    )
    rows = list(read_file(path, "source_event_id"))
    assert _invalid(rows) == ["events.jsonl line 2: JSON is nested too deeply to parse"]
    assert [r["source_event_id"] for r in _good(rows)] == ["e1", "e2"]
    # a nesting the parser accepts is refused by validation, not by a RecursionError
    with pytest.raises(SkippableError, match="nested deeper than"):
        validate_event({**deep_props, "ids": {"x": "1"}}, source="t", region="US")
    _record("deep JSON nesting", 2)


@pytest.mark.parametrize(
    "raw",
    ["9999-12-31T23:59:59-05:00", "0001-01-01T00:00:00+05:00", "9999-12-31T23:59:59.999999-00:01"],
)
def test_offsets_past_the_datetime_range_are_quarantined(raw: str, tmp_path: Path) -> None:
    with pytest.raises(SkippableError, match="out of range"):
        parse_timestamp(raw)
    event = {"source_event_id": "e", "type": "page_viewed", "occurred_at": raw, "ids": {"x": "1"}}
    with pytest.raises(SkippableError, match="occurred_at is out of range"):
        validate_event(event, source="t", region="US")
    profile = {"source_id": "p", "email": "a@example.org", "updated_at": raw}
    with pytest.raises(SkippableError, match="updated_at is out of range"):
        validate_profile(profile, source="t", region="US")
    _record("timestamps beyond the datetime range", 3)


# ---- serious item 7: decompression bombs -------------------------------------------------


def _gzip_with_long_line(path: Path, line_bytes: int) -> None:
    with gzip.open(path, "wb") as fh:
        fh.write(b'{"source_id": "a", "email": "a@example.org"}\n')
        chunk = b"a" * (1 << 20)
        for _ in range(line_bytes // len(chunk)):
            fh.write(chunk)
        fh.write(b'\n{"source_id": "b", "email": "b@example.org"}\n')


def test_gzip_bomb_line_is_skipped_without_being_held(tmp_path: Path) -> None:
    path = tmp_path / "people.jsonl.gz"
    _gzip_with_long_line(path, 32 << 20)  # 32 MiB of one line, ~32 KB on disk
    assert path.stat().st_size < 1 << 20
    limits = InputLimits(max_line_bytes=64 << 10)
    tracemalloc.start()
    rows = list(read_file(path, "source_id", limits))
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert [r["source_id"] for r in _good(rows)] == ["a", "b"]
    line = (32 << 20) + 1
    assert _invalid(rows) == [f"people.jsonl.gz line 2: longer than 65536 bytes ({line})"]
    assert peak < (32 << 20) / 8, peak  # the line was never held whole
    _record("gzip bomb (one huge line)", 1)


def test_gzip_expansion_past_the_budget_stops_the_file_with_a_reason(tmp_path: Path) -> None:
    path = tmp_path / "people.csv.gz"
    with gzip.open(path, "wb") as fh:
        fh.write(b"source_id,email\n1,a@example.org\n")
        fh.write(b"2,b@example.org\n" * 400_000)  # 6.4 MB, compresses ~1000x
    limits = InputLimits(expansion_floor=1 << 20, max_expansion=50)
    rows = list(read_file(path, "source_id", limits))
    assert rows[0] == {"source_id": "1", "email": "a@example.org"}
    assert "expands more than 50 times" in _invalid(rows)[-1]
    assert len(rows) < 400_000 // 4
    small = list(read_file(path, "source_id", InputLimits(max_file_bytes=1 << 20)))
    assert "decompressed size passed the limit of 1048576 bytes" in _invalid(small)[-1]
    _record("gzip bomb (expansion)", 2)


def _parquet_bomb(path: Path, rows: int, value_bytes: int) -> None:
    value = "x" * value_bytes
    table = pa.table(
        {
            "source_id": pa.array([str(i) for i in range(rows)]),
            "traits.note": pa.array([value] * rows).dictionary_encode(),
        }
    )
    pq.write_table(table, path, compression="zstd", row_group_size=rows)


def test_parquet_bomb_is_sized_before_it_is_decoded(tmp_path: Path) -> None:
    path = tmp_path / "people.parquet"
    _parquet_bomb(path, 4_000, 50_000)  # 200 MB decoded, a few KB on disk
    assert path.stat().st_size < 1 << 20
    limits = InputLimits(expansion_floor=4 << 20)
    tracemalloc.start()
    rows = list(read_file(path, "source_id", limits))
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert "decoded size passed the limit" in _invalid(rows)[-1]
    assert len(_good(rows)) < 200
    assert peak < 40 << 20, peak  # old code: to_pylist() of the whole table, 200 MB
    _record("parquet bomb (dictionary expansion)", 1)


def test_parquet_row_group_over_the_limit_is_quarantined_alone(tmp_path: Path) -> None:
    path = tmp_path / "people.parquet"
    big = pa.table(
        {"source_id": ["big"], "email": ["b@example.org"], "traits.x": ["y" * (2 << 20)]}
    )
    small = pa.table({"source_id": ["ok"], "email": ["a@example.org"], "traits.x": ["z"]})
    with pq.ParquetWriter(path, big.schema, compression="zstd") as writer:
        writer.write_table(big)
        writer.write_table(small)
    rows = list(read_file(path, "source_id", InputLimits(max_row_group_bytes=1 << 20)))
    assert [r["source_id"] for r in _good(rows)] == ["ok"]
    assert "row group 0" in _invalid(rows)[0]
    assert "max_row_group_bytes" in _invalid(rows)[0]


# ---- encodings ------------------------------------------------------------------------------


def test_latin1_export_is_refused_line_by_line_or_read_with_its_declared_encoding(
    tmp_path: Path,
) -> None:
    path = tmp_path / "people.csv"
    path.write_bytes(
        "source_id,email\n1,renée@example.org\n2,renèe@example.org\n3,ok@example.org\n".encode(
            "latin-1"
        )
    )
    rows = list(read_file(path, "source_id"))
    assert [r["source_id"] for r in _good(rows)] == ["3"]
    assert len(_invalid(rows)) == 2  # both latin-1 rows are quarantined, none vanishes
    assert all("is not valid utf-8 (byte 0xE9" in r or "(byte 0xE8" in r for r in _invalid(rows))
    assert all("renée" not in r for r in _invalid(rows))  # the reason names no address
    latin = list(read_file(path, "source_id", InputLimits(encoding="latin-1")))
    emails = {normalise_email(r["email"]) for r in _good(latin)}
    assert emails == {"renée@example.org", "renèe@example.org", "ok@example.org"}
    with pytest.raises(SkippableError, match="U\\+FFFD"):
        normalise_email("ren\ufffde@example.org")
    with pytest.raises(SkippableError, match="U\\+FFFD"):
        validate_profile({"source_id": "x", "ids": {"crm": "ren\ufffde"}}, source="t", region="US")
    _record("latin-1 and invalid UTF-8", 3)


def test_settings_refuse_an_unknown_encoding(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown text encoding"):
        FilesSettings(path=tmp_path, encoding="klingon")
    assert FilesSettings(path=tmp_path, encoding="cp1252").limits().encoding == "cp1252"


@pytest.mark.parametrize("first", ["email", "source_id"])
def test_utf8_bom_is_dropped_from_csv_and_jsonl(tmp_path: Path, first: str) -> None:
    other = "source_id" if first == "email" else "email"
    values = {"email": "a@example.org", "source_id": "1"}
    csv_path = tmp_path / "people.csv"
    csv_path.write_bytes(f"\ufeff{first},{other}\n{values[first]},{values[other]}\n".encode())
    assert list(read_file(csv_path, "source_id")) == [values]
    jsonl = tmp_path / "people.jsonl"
    jsonl.write_bytes(("\ufeff" + json.dumps(values) + "\n" + json.dumps(values) + "\n").encode())
    assert list(read_file(jsonl, "source_id")) == [values, values]
    _record("UTF-8 byte-order mark", 2)


def test_full_width_email_is_folded_and_phone_extensions_never_merge() -> None:
    full_width = "".join(chr(ord(c) + 0xFEE0) for c in "john@example.com")
    assert normalise_email(full_width) == "john@example.com"
    assert normalise_email("ª@example.com") == "ª@example.com"  # not NFKC's "a"
    for ext in ("12", "34"):
        with pytest.raises(SkippableError, match="extension"):
            normalise_phone(f"+1 212 555 0100 ext. {ext}")
    rec = validate_profile(
        {"source_id": "p", "email": "a@example.org", "phone": "+1 212 555 0100 ext. 12"},
        source="t",
        region="US",
    )
    assert rec.phone is None
    assert any("extension" in w for w in rec.warnings)
    with pytest.raises(SkippableError, match="extension"):
        validate_profile(
            {"source_id": "p", "phone": "+1 212 555 0100 x34"}, source="t", region="US"
        )
    _record("full-width and extension identifiers", 4)


# ---- CSV quoting and headers ---------------------------------------------------------------


def test_stray_quote_costs_one_row_not_the_rows_after_it(tmp_path: Path) -> None:
    lines = ["source_id,email,first_name", '1,a@example.org,"Ann']
    lines += [f"{i},p{i}@example.org,P{i}" for i in range(2, 202)]
    lines += ['202,z@example.org,"Smith, Z"', "203,y@example.org,Yu"]
    path = tmp_path / "people.csv"
    path.write_text("\n".join(lines) + "\n")
    rows = list(read_file(path, "source_id"))
    assert _invalid(rows) == [
        "people.csv line 2: unbalanced quote; the row is skipped and the next lines read"
    ]
    good = _good(rows)
    assert len(good) == 202
    assert good[-2]["first_name"] == "Smith, Z"
    # a real multi-line field is kept as one cell
    path.write_text(
        'source_id,email,traits.note\n1,a@example.org,"line one\nline two"\n2,b@example.org,x\n'
    )
    rows = list(read_file(path, "source_id"))
    assert rows[0]["traits"] == {"note": "line one\nline two"}
    assert len(rows) == 2
    _record("CSV quoting", 2)


def test_duplicate_csv_header_refuses_the_file(tmp_path: Path) -> None:
    path = tmp_path / "people.csv"
    path.write_text("source_id,email,consent.email,consent.email\n1,a@example.org,denied,granted\n")
    rows = list(read_file(path, "source_id"))
    assert len(rows) == 1
    assert "'consent.email' more than once" in rows[0]["_invalid"]


def test_unknown_columns_are_named_once_per_file(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "people.csv"
    path.write_text(
        "source_id,email,emial,loyalty\n1,a@example.org,x@example.org,gold\n2,b@example.org,,\n"
    )
    with caplog.at_level(logging.WARNING, logger="cdp_files"):
        rows = list(read_file(path, "source_id"))
    assert len(_good(rows)) == 2
    warned = [r.getMessage() for r in caplog.records if "canonical layout" in r.getMessage()]
    assert warned == [
        "people.csv: 2 column(s) not in the canonical layout were ignored: 'emial', 'loyalty'"
    ]
    assert "x@example.org" not in caplog.text


# ---- late files and NaN ------------------------------------------------------------------


def test_a_file_dropped_late_is_read_whole(tmp_path: Path) -> None:
    (tmp_path / "profiles").mkdir()
    old = tmp_path / "profiles" / "a.csv"
    old.write_text("source_id,email,updated_at\n1,a@example.org,2025-01-01\n")
    week_ago = 1_700_000_000
    os.utime(old, (week_ago, week_ago))
    ctx = make_context(tmp_path)
    source = FilesSource(FilesSettings(path=tmp_path), ctx)
    since = "2025-06-01T00:00:00.000000Z"
    assert [r["source_id"] for r in source.read(STREAMS[0], None)] == ["1"]  # first run
    source.close()  # the pull stage stored it: the file is remembered as read
    source = FilesSource(FilesSettings(path=tmp_path), ctx)
    assert list(source.read(STREAMS[0], since)) == []  # read before: filtered by row date
    late = tmp_path / "profiles" / "b.csv"
    late.write_text("source_id,email,updated_at\n2,b@example.org,2025-02-01\n")
    assert [r["source_id"] for r in source.read(STREAMS[0], since)] == ["2"]
    # a late file copied with its old modification time (cp -p, rsync -a, unzip) is new too
    kept = tmp_path / "profiles" / "c.csv"
    kept.write_text("source_id,email,updated_at\n3,c@example.org,2025-03-01\n")
    os.utime(kept, (week_ago, week_ago))
    assert [r["source_id"] for r in source.read(STREAMS[0], since)] == ["2", "3"]
    source.close()
    again = FilesSource(FilesSettings(path=tmp_path), ctx)
    os.utime(late, (week_ago, week_ago))
    assert list(again.read(STREAMS[0], since)) == []  # all read and stored before


def test_nan_and_infinity_are_stored_as_null() -> None:
    rec = validate_event(
        {
            "source_event_id": "e",
            "type": "page_viewed",
            "occurred_at": "2025-01-01",
            "ids": {"x": "1"},
            "properties": {"a": math.nan, "b": [math.inf, 1.5], "c": {"d": -math.inf}},
        },
        source="t",
        region="US",
    )
    assert rec.properties == {"a": None, "b": [None, 1.5], "c": {"d": None}}
    json.dumps(rec.properties, allow_nan=False)
    prof = validate_profile(
        {"source_id": "p", "email": "a@example.org", "traits": {"score": math.nan}},
        source="t",
        region="US",
    )
    assert prof.traits == {"score": None}


# ---- the Segment archive ----------------------------------------------------------------


def _track(mid: str) -> bytes:
    msg = {
        "type": "track",
        "event": "Product Viewed",
        "userId": "u1",
        "messageId": mid,
        "timestamp": "2025-03-02T10:00:00Z",
        "properties": {},
    }
    return json.dumps(msg).encode() + b"\n"


def _identify(user: str) -> bytes:
    msg = {"type": "identify", "userId": user, "messageId": f"i-{user}", "traits": {}}
    return json.dumps(msg).encode() + b"\n"


def _archive_file(root: Path, name: str, body: bytes) -> Path:
    folder = root / "segment-logs" / "SRC" / str(DAY)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_bytes(body)
    return folder / name


def _read(root: Path, since: str | None = None, **limits: Any) -> list[dict[str, Any]]:
    extra = {"limits": InputLimits(**limits)} if limits else {}
    return list(
        read_archive(
            ArchiveStore(str(root)),
            since=since,
            late_days=0,
            source_ids=(),
            mapper=event_mapper("US"),
            **extra,
        )
    )


def test_truncated_archive_file_is_quarantined_and_holds_the_cursor(tmp_path: Path) -> None:
    whole = gzip.compress(b"".join(_track(f"b{i}") for i in range(200)))
    _archive_file(tmp_path, "1.a.gz", gzip.compress(_track("a1")))
    _archive_file(tmp_path, "2.b.gz", whole[: len(whole) // 2])
    _archive_file(tmp_path, "3.c.gz", gzip.compress(_track("c1")))
    rows = _read(tmp_path)
    bad = _invalid(rows)
    assert len(bad) == 1
    assert "2.b.gz cannot be read to its end" in bad[0]
    marks = {r["_cursor"] for r in _good(rows)}
    assert max(marks) == f"{DAY:013d}/SRC/2.b.gz"  # not 3.c.gz: the next run reads 2.b again
    ids = {r["source_event_id"] for r in _good(rows)}
    assert {"a1", "c1"} <= ids
    _archive_file(tmp_path, "4.d.gz", gzip.compress(_identify("u9")))
    profiles = list(
        read_archive(
            ArchiveStore(str(tmp_path)),
            since=None,
            late_days=0,
            source_ids=(),
            mapper=profile_mapper("US"),
            prefilter=b"identify",
        )
    )
    assert [r["_cursor"] for r in profiles] == [f"{DAY:013d}/SRC/2.b.gz"]  # held, reported once
    _archive_file(tmp_path, "2.b.gz", whole)  # fixed (re-copied)
    again = _read(tmp_path, since=max(marks))
    assert not _invalid(again)
    assert {f"b{i}" for i in range(200)} <= {r["source_event_id"] for r in again}
    _record("truncated Segment archive file", 1)


def test_archive_poison_lines_are_quarantined_one_by_one(tmp_path: Path) -> None:
    body = b"".join(
        [
            "\ufeff".encode() + _track("m1"),
            DEEP.encode() + b"\n",
            b'{"type":"track","event":"X","userId":"u\xe9","messageId":"m2"}\n',
            b"x" * 20_000 + b"\n",
            _track("m3"),
        ]
    )
    _archive_file(tmp_path, "1.a.gz", gzip.compress(body))
    rows = _read(tmp_path, max_line_bytes=16_384)
    assert [r["source_event_id"] for r in _good(rows)] == ["m1", "m3"]
    reasons = _invalid(rows)
    assert len(reasons) == 3
    assert "nested too deeply" in reasons[0]
    assert "not valid utf-8" in reasons[1]
    assert "longer than 16384 bytes" in reasons[2]
    _record("Segment archive poison lines", 3)


def test_archive_gzip_bomb_is_quarantined_with_a_reason(tmp_path: Path) -> None:
    _archive_file(tmp_path, "1.a.gz", gzip.compress(_track("m1") + b" " * (8 << 20)))
    _archive_file(tmp_path, "2.b.gz", gzip.compress(_track("m2")))
    rows = _read(tmp_path, max_line_bytes=4096, expansion_floor=1 << 20, max_expansion=20)
    assert [r["source_event_id"] for r in _good(rows)] == ["m1", "m2"]
    assert "expands more than 20 times" in _invalid(rows)[0]
