"""A JSON-lines profiles file (pages of its plain lines, validated in bulk) lands exactly as the
same lines read as records: same stored profile records, tombstones and superseded ids, same
quarantine, counts and cursor, in a first run and in a second that re-reads an old file
(issue 14, item 2). The record path is reached without any switch: a key outside the canonical
layout, which validation ignores, keeps a line out of the pages."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from tests.conftest import write_config

from connector.config import load_config
from connector.pipeline import Workspace
from connector.pipeline.pull import PullResult, pull_source

OLD = 946_684_800  # 2000-01-01: files an earlier run read, not modified since
TABLES = ("profile_records", "tombstones", "superseded_ids")


def _lines(start: int, n: int, day: int) -> list[str]:
    out: list[dict[str, Any]] = []
    for i in range(start, start + n):
        row: dict[str, Any] = {
            "source_id": f"c{i % (n - 20)}",  # some ids twice: folded in one chunk
            "email": f"Person{i % 90}@Example.org" if i % 6 else None,
            "phone": "07400 123456" if i % 4 == 0 else None,
            "ids": {"crm": str(i)} if i % 3 else {},
            "first_name": "Zo\u00eb" if i % 5 == 0 else "Ann",
            "country": "uk" if i % 2 else "France",
            "updated_at": f"2024-01-{day:02d}T{i % 24:02d}:00:00Z",
            "consent": {"email": ("granted", "DENIED", "Unknown")[i % 3], "ads": "denied"},
        }
        if i % 7 == 0:
            row["consent_at"] = "2023-12-01T00:00:00+01:00"
        if i % 11 == 0:
            row["traits"] = {"plan": "gold", "tier": "a"}
        out.append(row)
    out += [
        {"source_id": "undated-no", "email": "no@example.org", "consent": {"sms": "denied"}},
        {"source_id": "bad-consent", "email": "x@example.org", "consent": {"sms": "maybe"}},
        {"source_id": "spaced", "email": "y@example.org", "consent": {"email": " granted"}},
        {"source_id": "letters", "phone": "415-555-CALL"},
        {"source_id": "nobody", "first_name": "Nobody"},
        {"source_id": "future", "email": "f@example.org", "updated_at": "2999-01-01"},
        {"source_id": 42, "email": "n@example.org"},
        {"source_id": "c1", "deleted": "true"},
        {"source_id": "c2", "merged_into": "c3"},
        {"source_id": "big", "email": "b@example.org", "traits": {"x": "y" * 70_000}},
    ]
    # an old version said again after a newer one of the same chunk: the last version wins
    out.append({"source_id": "c4", "email": "other@example.org", "updated_at": "2024-01-09"})
    return [json.dumps(r) for r in out] + ["{broken", "[1, 2]", ""]


def _write(folder: Path, name: str, lines: list[str], pages: bool) -> None:
    if not pages:  # an ignored key keeps every line out of the pages
        lines = [ln[:-1] + ', "x_note": 1}' if ln.startswith('{"') else ln for ln in lines]
    (folder / f"{name}.jsonl").write_text("\n".join(lines) + "\n")


def _pull(cfg: Path, run: str) -> tuple[PullResult, dict[str, list[Any]], str | None]:
    ws = Workspace(load_config(cfg, env={}))
    try:
        result = pull_source(ws, "shop", ws.config.sources["shop"], run_id=run, dry_run=False)
        stored = {
            t: ws.data.con.execute(f"SELECT * EXCLUDE (run_id) FROM {t} ORDER BY ALL").fetchall()
            for t in TABLES
        }
        stored["tombstones"] = [r[:2] + r[3:] for r in stored["tombstones"]]  # received when
        return result, stored, ws.cursors.get("shop", "profiles")
    finally:
        ws.close()


def _counts(result: PullResult) -> dict[str, Any]:
    stats = result.streams["profiles"]
    keys = ("pulled", "new", "unchanged", "quarantined", "already_quarantined", "reasons", "mark")
    return {k: stats.get(k) for k in keys}


def test_json_lines_profiles_land_as_pages_exactly_as_records(tmp_path: Path) -> None:
    results = {}
    for pages in (True, False):
        root = tmp_path / ("pages" if pages else "records")
        cfg = write_config(root)
        folder = root / "data" / "profiles"
        _write(folder, "a", _lines(0, 300, 2), pages)
        first = _pull(cfg, "run-1")
        for path in folder.iterdir():  # read by the first run, untouched since
            os.utime(path, (OLD, OLD))
        _write(folder, "b", _lines(250, 80, 3), pages)
        second = _pull(cfg, "run-2")
        results[pages] = (first, second)
    for (bulk, bulk_rows, bulk_mark), (one, one_rows, one_mark) in zip(
        results[True], results[False], strict=True
    ):
        assert bulk_rows == one_rows
        assert _counts(bulk) == _counts(one)
        assert bulk_mark == one_mark
    (first, first_rows, _), (second, _, _) = results[True]
    reasons = first.streams["profiles"]["reasons"]
    assert reasons["consent.sms must be granted, denied or unknown"] == 1
    assert reasons["consent.email must be granted, denied or unknown"] == 1  # " granted"
    assert reasons["profile has no identifier (email, phone or ids)"] == 26
    assert sum(reasons.values()) == first.streams["profiles"]["quarantined"] == 33
    assert len(first_rows["tombstones"]) == 2
    assert ("shop", "undated-no") in {r[:2] for r in first_rows["profile_records"]}
    assert second.streams["profiles"]["pulled"] < 200  # not the old file whole
