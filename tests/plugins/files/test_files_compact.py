"""Folding the journal into the output files: the files hold exactly the state the ops set,
whatever mix of runs and batches wrote them, and a fold costs the rows it changes: rows no op
touched are copied as stored, and a file no op touched is not rewritten."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cdp_files.compact import compact
from cdp_files.journal import Journal
from cdp_files.spreadsheet import from_cell

IDS = ["p1", "p2", "=p3", "-4", "'p6", 'p"7', "p,8"]
KEYS = ["a", "=c", "score", "email"]
VALUES = ["1", "-3", "=SUM(A1)", "'q", "hello, world", 'say "hi"']

_op = st.one_of(
    st.tuples(st.just("unset"), st.sampled_from(IDS), st.none()),
    st.tuples(
        st.just("upsert"),
        st.sampled_from(IDS),
        st.dictionaries(st.sampled_from(KEYS), st.sampled_from(VALUES), max_size=3),
    ),
    st.tuples(st.sampled_from(["add", "remove"]), st.sampled_from(IDS), st.sampled_from("xy=")),
)


def _row(op: str, pid: str, arg: Any) -> dict[str, Any]:
    row = {"op": op, "profile_id": pid, "email": f"{pid}@x.org", "traits": None}
    if op == "upsert":
        row["traits"] = json.dumps(arg, sort_keys=True)
    seg = arg if op in ("add", "remove") else None
    return {**row, "segment_id": seg, "segment_name": f"N{seg}" if seg else None}


def _fold(root: Path, ext: str, batches: list[list[dict[str, Any]]]) -> None:
    journal = Journal(root)
    for rows in batches:
        journal.append(rows)
    if journal.paths():
        compact(root, ext, journal.paths(), root / f"traits.{ext}", root / f"memberships.{ext}")
        journal.clear()


def _rows(path: Path, ext: str) -> list[dict[str, str]]:
    if ext == "parquet":
        return [{k: v for k, v in r.items() if v} for r in pq.read_table(path).to_pylist()]
    with path.open(newline="") as fh:
        return [{k: from_cell(v) for k, v in r.items() if v} for r in csv.DictReader(fh)]


@pytest.mark.parametrize("ext", ["csv", "parquet"])
@settings(max_examples=30, deadline=None)
@given(runs=st.lists(st.lists(st.lists(_op, min_size=1, max_size=6), max_size=3), max_size=4))
def test_the_files_hold_the_state_the_ops_set(
    tmp_path_factory: pytest.TempPathFactory, ext: str, runs: list[list[list[Any]]]
) -> None:
    root = tmp_path_factory.mktemp("out")
    traits: dict[str, dict[str, str]] = {}
    members: dict[tuple[str, str], str] = {}
    for run in runs:
        _fold(root, ext, [[_row(*op) for op in batch] for batch in run])
        for op, pid, arg in (op for batch in run for op in batch):
            if op == "unset":
                traits.pop(pid, None)
            elif op == "upsert":
                traits[pid] = {**arg, "profile_id": pid, "email": f"{pid}@x.org"}
            elif op == "add":
                members[(arg, pid)] = pid
            else:
                members.pop((arg, pid), None)
        if not (root / f"traits.{ext}").exists():
            continue
        got = _rows(root / f"traits.{ext}", ext)
        assert got == [traits[p] for p in sorted(traits)]
        names = {k for t in traits.values() for k in t} - {"profile_id", "email"}
        header = pq.read_schema(root / "traits.parquet").names if ext == "parquet" else None
        with (root / f"traits.{ext}").open("rb") as fh:
            first = fh.readline().decode() if ext == "csv" else ""
        columns = header or next(csv.reader([first]))
        assert columns == ["profile_id", "email", *sorted(names)]  # a column empties, it goes
        want = [
            {"segment_id": s, "segment_name": f"N{s}", "profile_id": p, "email": f"{p}@x.org"}
            for s, p in sorted(members)
        ]
        assert _rows(root / f"memberships.{ext}", ext) == want


@pytest.mark.parametrize("ext", ["csv", "parquet"])
def test_a_fold_leaves_untouched_rows_and_files_as_stored(tmp_path: Path, ext: str) -> None:
    _fold(
        tmp_path,
        ext,
        [[_row("upsert", p, {"a": "=1+1", "score": "-3"}) for p in IDS] + [_row("add", "p1", "x")]],
    )
    members = (tmp_path / f"memberships.{ext}").stat()
    before = (tmp_path / f"traits.{ext}").read_bytes()
    _fold(tmp_path, ext, [[_row("upsert", "p2", {"a": "2"})]])  # traits only
    assert (tmp_path / f"memberships.{ext}").stat().st_mtime_ns == members.st_mtime_ns
    assert (tmp_path / f"memberships.{ext}").stat().st_ino == members.st_ino  # not rewritten
    after = (tmp_path / f"traits.{ext}").read_bytes()
    if ext == "csv":
        changed = [line for line in after.splitlines() if line not in before.splitlines()]
        assert changed == [b"p2,p2@x.org,2,"]  # every other line as it was, byte for byte
        assert b"'=1+1" in after  # still inert for a spreadsheet
