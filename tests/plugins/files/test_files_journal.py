"""The files sink's journal: linear appends, batches never written twice, crashes anywhere.

Unit cases drive the sink directly (a new ``FilesSink`` stands for a new process after a crash);
the end-to-end cases kill ``connector run`` inside the sink (after a part is written but before
the manifest lists it, between the two files of a fold, and with a SIGKILL while parts are being
appended) and check that the next run lands exactly what an uncrashed run lands.
"""

from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from tests.conftest import write_config

from cdp_files.settings import FilesSettings
from cdp_files.sink import FilesSink
from connector.plugin.changes import Change, ChangeKind, Recipient, SegmentRef
from connector.testing.context import make_context

VIP = SegmentRef("vip", "VIP")


def _upsert(pid: str, **traits: object) -> Change:
    return Change(ChangeKind.UPSERT, Recipient(pid, email=f"{pid}@x.org"), f"t:{pid}", "d", traits)


def _member(kind: ChangeKind, pid: str) -> Change:
    return Change(kind, Recipient(pid, email=f"{pid}@x.org"), f"m:{pid}", "d", segment=VIP)


def _sink(tmp_path: Path, fmt: str = "csv") -> FilesSink:
    sink = FilesSink(FilesSettings(path=tmp_path / "out", format=fmt), make_context(tmp_path))
    sink.prepare([], [VIP])
    return sink


def _read(tmp_path: Path, name: str, fmt: str = "csv") -> pd.DataFrame:
    path = tmp_path / "out" / f"{name}.{fmt}"
    if fmt == "csv":
        return pd.read_csv(path, dtype=str, keep_default_na=False)
    return pd.read_parquet(path)


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_a_batch_sent_again_is_not_written_twice_and_lands_once(tmp_path: Path, fmt: str) -> None:
    first = _sink(tmp_path, fmt)
    batch = [_upsert("a", score=1), _upsert("b", score=2)]
    first.apply(batch)
    first.apply([_member(ChangeKind.ADD, "a")])
    # killed after the ack, before the ledger commit: the next process sends both again
    again = _sink(tmp_path, fmt)
    again.apply(batch)
    again.apply([_member(ChangeKind.ADD, "a")])
    assert len(list((tmp_path / "out" / "_parts").iterdir())) == 2, "one part per batch"
    again.close()
    traits = _read(tmp_path, "traits", fmt)
    assert traits.to_dict("records") == [
        {"profile_id": "a", "email": "a@x.org", "score": "1"},
        {"profile_id": "b", "email": "b@x.org", "score": "2"},
    ]
    assert _read(tmp_path, "memberships", fmt)["profile_id"].tolist() == ["a"]
    assert json.loads((tmp_path / "out" / "_manifest.json").read_text())["parts"] == []
    assert not list((tmp_path / "out" / "_parts").iterdir()), "folded parts are deleted"


def test_a_batch_resent_after_a_later_change_wins_again(tmp_path: Path) -> None:
    """add X, remove X, then the same add batch again: X is a member (the part moves last)."""
    sink = _sink(tmp_path)
    sink.apply([_member(ChangeKind.ADD, "x")])
    sink.apply([_member(ChangeKind.REMOVE, "x")])
    sink.apply([_member(ChangeKind.ADD, "x")])
    sink.close()
    assert _read(tmp_path, "memberships")["profile_id"].tolist() == ["x"]


def test_later_runs_update_and_withdraw_rows_folded_earlier(tmp_path: Path) -> None:
    first = _sink(tmp_path)
    first.apply([_upsert("a", score=1, tier="=x"), _upsert("b", score=2)])
    first.apply([_member(ChangeKind.ADD, "a"), _member(ChangeKind.ADD, "b")])
    first.close()
    second = _sink(tmp_path)
    withdrawn = Change(ChangeKind.UPSERT, Recipient("b"), "t:b", "d", {}, unset=("score",))
    second.apply([_upsert("a", score=5, tier="=x"), withdrawn])
    second.apply([_member(ChangeKind.REMOVE, "b")])
    second.close()
    traits = _read(tmp_path, "traits")
    assert traits.to_dict("records") == [
        {"profile_id": "a", "email": "a@x.org", "score": "5", "tier": "'=x"}
    ]
    assert _read(tmp_path, "memberships")["profile_id"].tolist() == ["a"]


def test_cost_per_batch_does_not_grow_with_what_was_written_before(tmp_path: Path) -> None:
    """The old sink rewrote both whole files per batch: bytes written grew with the square."""
    sink = _sink(tmp_path)
    sizes = []
    for n in range(40):
        sink.apply([_upsert(f"p{n}-{i}", score=i) for i in range(50)])
        sizes.append(sum(p.stat().st_size for p in (tmp_path / "out" / "_parts").iterdir()))
    growth = [b - a for a, b in itertools.pairwise(sizes)]
    assert max(growth) < 2 * min(growth), "each batch adds about its own size"
    assert not (tmp_path / "out" / "traits.csv").exists(), "nothing rewritten per batch"
    sink.close()
    assert len(_read(tmp_path, "traits")) == 2_000


def _people(n: int) -> list[dict[str, object]]:
    return [
        {
            "source_id": f"c{i}",
            "email": f"person{i}@example.org",
            "updated_at": "2011-11-01T00:00:00Z",
            "consent": {"email": "granted"},
        }
        for i in range(n)
    ]


def _orders(n: int) -> list[dict[str, object]]:
    return [
        {
            "source_event_id": f"o{i}-{k}",
            "type": "order_completed",
            "occurred_at": f"2011-{1 + (i + k) % 11:02d}-{1 + i % 27:02d}T10:00:00Z",
            "email": f"person{i}@example.org",
            "revenue": 10 + (i * 7 + k * 13) % 200,
        }
        for i in range(n)
        for k in range(1 + i % 3)
    ]


def _workspace(root: Path) -> tuple[Path, list[str]]:
    cfg = write_config(root)
    cfg.write_text(cfg.read_text().replace("batch_size = 1000", "batch_size = 25"))
    for sub, rows in (("profiles", _people(300)), ("events", _orders(300))):
        text = "".join(json.dumps(r) + "\n" for r in rows)
        (root / "data" / sub / f"{sub}.jsonl").write_text(text)
    cmd = [sys.executable, "-m", "connector", "run", "--config", str(root / "connector.toml")]
    return root / "out", cmd


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONNECTOR_")}
    return {**env, **extra}


def _output(out: Path) -> tuple[list[tuple[str, ...]], list[tuple[str, ...]]]:
    traits = pd.read_csv(out / "traits.csv", dtype=str, keep_default_na=False)
    members = pd.read_csv(out / "memberships.csv", dtype=str, keep_default_na=False)
    assert traits["profile_id"].is_unique, "no traits row twice"
    assert not members.duplicated(["segment_id", "profile_id"]).any(), "no membership twice"
    drop = [c for c in traits.columns if c == "profile_id"]
    rows = sorted(map(tuple, traits.drop(columns=drop).values))
    return rows, sorted(map(tuple, members.drop(columns=["profile_id"]).values))


def _kill_when_listed(cmd: list[str], out: Path, parts: int) -> int:
    """SIGKILL the run once the manifest lists ``parts`` parts (mid-apply)."""
    proc = subprocess.Popen(cmd, env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    manifest = out / "_manifest.json"
    deadline = time.monotonic() + 240
    while proc.poll() is None and time.monotonic() < deadline:
        try:
            listed = len(json.loads(manifest.read_text())["parts"])
        except (OSError, ValueError, KeyError):
            listed = 0
        if listed >= parts:
            proc.send_signal(signal.SIGKILL)
            break
        time.sleep(0.005)
    return proc.wait(timeout=60)


@pytest.mark.slow
def test_runs_killed_inside_the_files_sink_finish_with_nothing_lost_or_doubled(
    tmp_path: Path,
) -> None:
    ref_out, ref_cmd = _workspace(tmp_path / "reference")
    assert subprocess.run(ref_cmd, env=_env(), check=False, timeout=300).returncode == 0
    reference = _output(ref_out)
    assert len(reference[0]) == 300
    out, cmd = _workspace(tmp_path / "crashed")
    codes = [_kill_when_listed(cmd, out, parts=2)]  # mid-apply, in a fresh workspace
    codes += [
        subprocess.run(
            cmd, env=_env(CONNECTOR_CRASH_AT=at), capture_output=True, check=False, timeout=300
        ).returncode
        for at in ("files.after_part@3", "files.after_fold@1")
    ]
    assert codes == [-9, 137, 137], codes
    done = subprocess.run(cmd, env=_env(), capture_output=True, text=True, check=False, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert _output(out) == reference
    assert json.loads((out / "_manifest.json").read_text())["parts"] == []
