"""A Parquet events file and a JSON-lines one (pages, validated in bulk) land exactly as the same
events read as records (validated one by one): same stored rows, same quarantine, same cursor,
and the same incremental re-read of an old file (issue 14, item 2)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from tests.conftest import write_config

from connector.config import load_config
from connector.pipeline import Workspace, pull, pull_reader
from connector.pipeline.pull import PullResult, pull_source
from connector.schema.flat import unflatten

OLD = 946_684_800  # 2000-01-01: files an earlier run read, not modified since


def _rows(start: int, n: int, day: int) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for i in range(start, start + n):
        rows.append(
            {
                "source_event_id": f"e{i}",
                "type": "order_completed" if i % 3 else "page_viewed",
                "occurred_at": f"2024-01-{day:02d}T{i % 24:02d}:00:00Z",
                "email": f"Person{i % 7}@Example.org" if i % 5 else None,  # else ids or a phone
                "phone": "07400 123456" if i % 4 == 0 else None,
                "ids.crm": str(i) if i % 2 or i % 4 else None,
                "revenue": f"{i}.5" if i % 3 else None,
                "currency": "gbp" if i % 3 else None,
                "properties": json.dumps({"order_id": f"o{i}", "n": i}),
            }
        )
    hostile = [
        {"source_event_id": "bad-type", "type": "Order Completed", "occurred_at": "2024-01-02"},
        {"source_event_id": "bad-mail", "type": "x", "occurred_at": "2024-01-02", "email": "a@"},
        {"source_event_id": "nobody", "type": "x", "occurred_at": "2024-01-02"},
        {"source_event_id": "future", "type": "x", "occurred_at": "2999-01-01", "ids.crm": "1"},
        {"source_event_id": "padded", "type": "x", "occurred_at": " 2024-01-02 ", "ids.crm": "1"},
        {
            "source_event_id": "ext",
            "type": "x",
            "occurred_at": "2024-01-02",
            "phone": "+1 212 555 0100 ext. 1",
        },
        {
            "source_event_id": f"e{start}",
            "type": "identify",
            "occurred_at": "2024-01-03",
            "ids.crm": "again",
        },
    ]
    return rows + [{k: hostile_row.get(k) for k in rows[0]} for hostile_row in hostile]


def _write(folder: Path, name: str, rows: list[dict[str, Any]], form: str) -> None:
    """Parquet (pages), JSON lines (pages of plain lines) or JSON lines each with a key outside
    the canonical layout, which validation ignores and which keeps every line a record."""
    if form == "parquet":
        pq.write_table(pa.Table.from_pylist(rows), folder / f"{name}.parquet")
        return
    objects = [unflatten(r, "source_event_id") for r in rows]
    for i, obj in enumerate(objects):
        if "revenue" in obj and i % 2:  # JSON numbers, as most writers spell an amount
            obj["revenue"] = float(obj["revenue"])
        if form == "records":
            obj["x_note"] = 1
    lines = [json.dumps(obj) for obj in objects]
    (folder / f"{name}.jsonl").write_text("\n".join(lines) + "\n")


def _pull(cfg: Path, run: str) -> tuple[PullResult, list[tuple[Any, ...]], str | None]:
    ws = Workspace(load_config(cfg, env={}))
    try:
        result = pull_source(ws, "shop", ws.config.sources["shop"], run_id=run, dry_run=False)
        stored = ws.data.con.execute(
            "SELECT event_id, source, source_event_id, type, occurred_at, email, phone, ids,"
            " id_sig, revenue, currency, properties FROM events ORDER BY event_id"
        ).fetchall()
        return result, [tuple(r) for r in stored], ws.cursors.get("shop", "events")
    finally:
        ws.close()


def _counts(result: PullResult) -> dict[str, Any]:
    stats = result.streams["events"]
    keys = ("pulled", "new", "quarantined", "already_quarantined", "reasons", "mark")
    return {k: stats.get(k) for k in keys}


def test_parquet_pages_land_exactly_as_the_same_records_as_json_lines(tmp_path: Path) -> None:
    results = {}
    for form in ("parquet", "jsonl", "records"):
        root = tmp_path / form
        cfg = write_config(root)
        events = root / "data" / "events"
        _write(events, "a", _rows(0, 400, 2), form)
        first = _pull(cfg, "run-1")
        for path in events.iterdir():  # read by the first run, untouched since
            os.utime(path, (OLD, OLD))
        _write(events, "b", _rows(400, 50, 3), form)
        second = _pull(cfg, "run-2")
        results[form] = (first, second)
    (j1, j_rows1, j_mark1), (j2, j_rows2, j_mark2) = results["jsonl"]
    (p1, p_rows1, p_mark1), (p2, p_rows2, p_mark2) = results["parquet"]
    (r1, r_rows1, r_mark1), (r2, r_rows2, r_mark2) = results["records"]
    assert (j_rows1, _counts(j1), j_mark1) == (r_rows1, _counts(r1), r_mark1)
    assert (j_rows2, _counts(j2), j_mark2) == (r_rows2, _counts(r2), r_mark2)
    assert p_rows1 == r_rows1
    assert len(p_rows1) == 401  # e0 twice (the later row wins), "padded" is trimmed
    assert _counts(p1) == _counts(r1)
    assert p1.streams["events"]["quarantined"] == 5
    assert p_mark1 == r_mark1 == "2024-01-03T00:00:00.000000Z"
    # the second run re-reads only the old file's rows at or after mark - lookback
    assert p_rows2 == r_rows2
    assert _counts(p2) == _counts(r2)
    assert p2.streams["events"]["pulled"] < 120  # not the old file whole (407 rows)
    assert p_mark2 == r_mark2


def test_pages_stored_together_land_as_pages_stored_one_by_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Validated event pages are stored a batch of pages at a time (``pull._EVENT_BATCH``):
    with pages of 64 rows stored all at once, an event repeated in a later page
    still replaces the earlier one, and rows, counts and cursor equal storing page by page."""
    results = {}
    for batch in (1, 10_000):
        monkeypatch.setattr(pull_reader, "PAGE_ROWS", 64)
        monkeypatch.setattr(pull, "_EVENT_BATCH", batch)
        root = tmp_path / f"batch{batch}"
        cfg = write_config(root)
        rows = _rows(0, 400, 2)
        rows += [{**r, "revenue": "99.5"} for r in _rows(10, 5, 4)]  # the same ids, later
        table = pa.Table.from_pylist(rows)  # row groups of 50: the source's batches
        pq.write_table(table, root / "data" / "events" / "a.parquet", row_group_size=50)
        results[batch] = _pull(cfg, "run-1")
    (one, one_rows, one_mark), (many, many_rows, many_mark) = results[1], results[10_000]
    assert many_rows == one_rows
    assert (_counts(many), many_mark) == (_counts(one), one_mark)
    revenue = {r[0]: r[9] for r in many_rows}
    assert revenue["shop:e12"] == 99.5, "the later page's row wins across a batch's pages"
    assert many.streams["events"]["new"] == len(many_rows)
