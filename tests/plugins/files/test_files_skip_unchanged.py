"""A file read before and untouched since is skipped whole; an append, a rewrite or a copy
over it is read again (issue 14: the 1 %-change run at a million profiles spent 95 s of its
pull re-reading every old file to filter rows by date)."""

from __future__ import annotations

import gzip
import json
import os
import shutil
import time
from pathlib import Path

from tests.conftest import write_config
from tests.plugins.files.test_files_bulk_pull import _pull, _rows, _write


def _pulled(result: object) -> int:
    return int(result.streams["events"]["pulled"])  # type: ignore[attr-defined]


def test_untouched_files_are_skipped_and_touched_ones_read_again(tmp_path: Path) -> None:
    cfg = write_config(tmp_path)
    events = tmp_path / "data" / "events"
    _write(events, "a", _rows(0, 300, 20), "jsonl")
    _write(events, "b", _rows(1000, 300, 20), "parquet")
    first, rows1, _ = _pull(cfg, "run-1")
    assert _pulled(first) == 614

    second, rows2, _ = _pull(cfg, "run-2")
    assert _pulled(second) == 0, "nothing was read again"
    assert rows2 == rows1

    # an append: the new rows land (the file's rows from before are filtered by date as ever)
    with (events / "a.jsonl").open("a") as fh:
        fh.write(
            '{"source_event_id": "late", "type": "x", "occurred_at": "2024-01-21T00:00:00Z",'
            ' "ids": {"crm": "9"}}\n'
        )
    third, rows3, _ = _pull(cfg, "run-3")
    assert 0 < _pulled(third)
    assert "late" in {r[2] for r in rows3}

    # the same bytes copied over the Parquet file with its old times kept (cp -p): read again
    st = (events / "b.parquet").stat()
    copy = tmp_path / "b.copy"
    shutil.copy2(events / "b.parquet", copy)
    os.replace(copy, events / "b.parquet")
    os.utime(events / "b.parquet", ns=(st.st_atime_ns, st.st_mtime_ns))
    fourth, _, _ = _pull(cfg, "run-4")
    assert _pulled(fourth) > 0, "a replaced file is read, whatever its modification time says"

    fifth, rows5, _ = _pull(cfg, "run-5")
    assert _pulled(fifth) == 0
    assert len(rows5) == len(rows3)


def test_a_last_line_still_being_written_waits_for_its_newline(tmp_path: Path) -> None:
    """A scheduled run reading an export that is appending: the half-written last line is
    neither quarantined (it set off reject-rate alerts on every tick) nor lost; a file cut
    short and left alone past the grace is quarantined as before."""
    cfg = write_config(tmp_path)
    events = tmp_path / "data" / "events"
    line = (
        '{"source_event_id": "e3", "type": "x", "occurred_at": "2024-01-21T00:00:00Z",'
        ' "email": "ann@example.org", "properties": {"city": "Orléans"}}'
    ).encode()
    cut = line.index("é".encode()) + 1  # the writer stopped inside a two-byte character
    (events / "live.jsonl").write_bytes(line.replace(b"e3", b"e1") + b"\n" + line[:cut])
    first, rows1, _ = _pull(cfg, "run-1")
    assert first.streams["events"].get("quarantined", 0) == 0
    assert [r[2] for r in rows1] == ["e1"]
    with (events / "live.jsonl").open("ab") as fh:
        fh.write(line[cut:] + b"\n")
    second, rows2, _ = _pull(cfg, "run-2")
    assert second.streams["events"].get("quarantined", 0) == 0
    assert sorted(r[2] for r in rows2) == ["e1", "e3"]

    (events / "cut.jsonl").write_bytes(line.replace(b"e3", b"e4") + b"\n" + line[:40])
    old = time.time() - 3600
    os.utime(events / "cut.jsonl", (old, old))
    third, rows3, _ = _pull(cfg, "run-3")
    assert third.streams["events"]["quarantined"] == 1
    assert "with no newline" in json.dumps(third.streams["events"]["reasons"])
    assert sorted(r[2] for r in rows3) == ["e1", "e3", "e4"]


def test_a_csv_row_still_being_written_waits_for_its_newline(tmp_path: Path) -> None:
    """A CSV export appending while we read: its last row, cut inside an address, parses as
    a good row (``ann@example.or``), so before it was stored and made a person who does not exist.
    It now waits for its newline like a JSON line; a CSV file that simply ends without a
    newline and has been left alone is read whole, its last row included."""
    cfg = write_config(tmp_path)
    events = tmp_path / "data" / "events"
    head = b"source_event_id,type,occurred_at,email\n"
    row = b"e3,order_completed,2024-01-21T00:00:00Z,ann@example.org"
    (events / "live.csv").write_bytes(head + row.replace(b"e3", b"e1") + b"\n" + row[:-1])
    first, rows1, _ = _pull(cfg, "run-1")
    assert first.streams["events"].get("quarantined", 0) == 0
    assert [(r[2], r[5]) for r in rows1] == [("e1", "ann@example.org")]
    with (events / "live.csv").open("ab") as fh:
        fh.write(row[-1:] + b"\n")
    _, rows2, _ = _pull(cfg, "run-2")
    assert sorted((r[2], r[5]) for r in rows2) == [
        ("e1", "ann@example.org"),
        ("e3", "ann@example.org"),
    ]

    (events / "done.csv").write_bytes(head + row.replace(b"e3", b"e5"))  # no newline at all
    old = time.time() - 3600
    os.utime(events / "done.csv", (old, old))
    # gzipped, fresh: a gzip file is never appended to while read, so its last row is read now
    (events / "fresh.csv.gz").write_bytes(gzip.compress(head + row.replace(b"e3", b"e6")))
    third, rows3, _ = _pull(cfg, "run-3")
    assert third.streams["events"].get("quarantined", 0) == 0
    assert {"e5", "e6"} <= {r[2] for r in rows3}
