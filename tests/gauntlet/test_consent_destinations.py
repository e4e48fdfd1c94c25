"""Relaying destinations honour consent (issue 20): Segment and the files export.

Segment fans identify traits out to every connected tool, ad tools included, and a files export
is uploaded wherever its owner likes, so both are gated by ads consent. A person who withdraws
must have what we delivered cleared there (traits null or gone, memberships false or gone),
read from what lands: the Segment emulator's profiles and the export files.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
from tests.conftest import write_config

from cdp_segment.emulator import SegmentEmulator
from connector.config import load_config
from connector.pipeline import Workspace, run_pipeline
from connector.plugin.spec import EmulatorOptions

PEOPLE = [f"p{i}" for i in range(6)]


def _write_jsonl(path: Path, rows: list[dict[str, Any]]) -> None:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


def _scenario(root: Path) -> None:
    profiles = [
        {
            "source_id": p,
            "email": f"{p}@example.org",
            "updated_at": "2011-06-01T00:00:00Z",
            "consent": {"ads": "granted"},
        }
        for p in PEOPLE
    ]
    orders = [
        {
            "source_event_id": f"{p}-{n}",
            "type": "order_completed",
            "occurred_at": f"2011-0{n + 1}-1{i}T10:00:00Z",
            "email": f"{p}@example.org",
            "revenue": 40 * (i + 1),
        }
        for i, p in enumerate(PEOPLE)
        for n in range(i % 3 + 1)
    ]
    _write_jsonl(root / "data" / "profiles" / "crm.jsonl", profiles)
    _write_jsonl(root / "data" / "events" / "shop.jsonl", orders)


def _run(cfg: Path) -> None:
    ws = Workspace(load_config(cfg, env={"SEGMENT_WRITE_KEY": "wk-test"}))
    try:
        assert run_pipeline(ws).failures == []
    finally:
        ws.close()


def _segment_traits(emu: SegmentEmulator, email: str) -> dict[str, Any]:
    users = httpx.get(f"{emu.base_url}/__emulator__/state", timeout=30).json()["users"]
    found = [t for t in users.values() if t.get("email") == email]
    assert len(found) == 1, f"{email}: {len(found)} Segment profiles"
    return {k: v for k, v in found[0].items() if k.startswith("cdp_")}


def _exported(root: Path, email: str) -> tuple[int, int]:
    """(traits rows, membership rows) of ``email`` in the files export."""
    out = root / "out"
    traits = pd.read_csv(out / "traits.csv", dtype=str, keep_default_na=False)
    members = pd.read_csv(out / "memberships.csv", dtype=str, keep_default_na=False)
    return int((traits["email"] == email).sum()), int((members["email"] == email).sum())


def test_a_withdrawal_clears_segment_traits_and_the_files_export(tmp_path: Path) -> None:
    with SegmentEmulator(EmulatorOptions(limits="off")) as segment:
        cfg = write_config(
            tmp_path,
            f"""
[destinations.segment]
plugin = "segment"
write_key = {{ env = "SEGMENT_WRITE_KEY" }}
base_url = "{segment.base_url}"
max_retry_seconds = 5
""",
        )
        _scenario(tmp_path)
        _run(cfg)
        before = _segment_traits(segment, "p0@example.org")
        assert any(v is True for k, v in before.items() if "_segment_" in k), before
        assert any(v not in (None, False) for k, v in before.items() if "_segment_" not in k)
        assert _exported(tmp_path, "p0@example.org") >= (1, 1)

        revoked = {
            "source_id": "p0",
            "email": "p0@example.org",
            "updated_at": "2011-09-01T00:00:00Z",
            "consent": {"ads": "denied"},
        }
        _write_jsonl(tmp_path / "data" / "profiles" / "crm2.jsonl", [revoked])
        _run(cfg)
        after = _segment_traits(segment, "p0@example.org")
        others = _segment_traits(segment, "p1@example.org")
    assert after.keys() == before.keys()
    assert all(v in (None, False) for v in after.values()), f"still in Segment: {after}"
    assert _exported(tmp_path, "p0@example.org") == (0, 0), "still in the files export"
    assert any(v is True for k, v in others.items() if "_segment_" in k), "others kept"
    assert _exported(tmp_path, "p1@example.org")[0] == 1
