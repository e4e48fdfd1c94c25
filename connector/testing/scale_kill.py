"""A run killed while it applies, then resumed: does the files destination hold every row once?

``kill_mid_apply`` runs a first run into a workspace and files destination of its own, kills
it with SIGKILL (no cleanup, like a lost machine) once the destination's journal lists a given
fraction of the changes an uninterrupted run planned, runs again to resume, and compares the
destination's rows with the resumed run's desired state (``against_desired``: rows lost,
there twice, or unexpected), with what the workspace's ledger says the destination acknowledged
(``against_ledger``: lost, twice, orphaned) and, for information, with those of
the uninterrupted run on the same data (``compare_outputs``; a model refitted by the resume
run may differ from the first run's by a few boundary cases, which is not a loss).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb

from connector.state import Ledger, StateStore
from connector.state.ledger import PENDING
from connector.sync.desired import traits_digest

__all__ = ["against_desired", "against_ledger", "compare_outputs", "kill_mid_apply"]

_BATCH = 5_000  # the files destination's default batch_size


def _listed(out: Path) -> int:
    manifest = out / "_manifest.json"
    try:
        return len(json.loads(manifest.read_text(encoding="utf-8"))["parts"])
    except (OSError, ValueError, KeyError):
        return 0  # not written yet, or replaced while read


def _rows(path: Path, key: tuple[str, ...]) -> tuple[Counter[tuple[str, ...]], dict[Any, Any]]:
    """How often each key occurs in an output CSV, and each key's whole row."""
    if not path.exists():
        return Counter(), {}
    con = duckdb.connect()
    try:
        rel = con.execute(f"SELECT * FROM read_csv('{path.as_posix()}', all_varchar = true)")
        cols = [d[0] for d in rel.description]
        found = rel.fetchall()
    finally:
        con.close()
    at = [cols.index(k) for k in key]
    counts: Counter[tuple[str, ...]] = Counter()
    rows: dict[Any, Any] = {}
    for row in found:
        k = tuple(str(row[i]) for i in at)
        counts[k] += 1
        rows[k] = dict(zip(cols, row, strict=True))
    return counts, rows


def compare_outputs(reference: Path, resumed: Path) -> dict[str, int]:
    """Rows of ``resumed``'s files destination against ``reference``'s, keyed by e-mail (and
    segment): profile ids are minted per workspace, the people are the same."""
    out: dict[str, int] = Counter()
    for name, key in (("traits", ("email",)), ("memberships", ("segment_id", "email"))):
        want, want_rows = _rows(reference / f"{name}.csv", key)
        have, have_rows = _rows(resumed / f"{name}.csv", key)
        out[f"{name}_expected"] = sum(want.values())
        out[f"{name}_lost"] = sum(1 for k in want if k not in have)
        out[f"{name}_duplicated"] = sum(n - 1 for n in have.values() if n > 1)
        out[f"{name}_unexpected"] = sum(1 for k in have if k not in want)
        out[f"{name}_differing"] = sum(
            1
            for k, row in have_rows.items()
            if k in want_rows
            and {c: v for c, v in row.items() if c != "profile_id"}
            != {c: v for c, v in want_rows[k].items() if c != "profile_id"}
        )
    return dict(out)


def against_ledger(workspace: Path, out: Path, destination: str = "export") -> dict[str, int]:
    """The destination's rows against what the workspace's ledger says it acknowledged: after
    a run that ended with nothing left to retry, the ledger is the desired state of every key
    it planned. A key in the ledger but not in the files is lost; a row twice is duplicated; a
    row the ledger does not know is orphaned (sent, then forgotten)."""
    store = StateStore.for_workspace(workspace)
    try:
        rows = [row for chunk in Ledger(store).scan(destination) for row in chunk]
    finally:
        store.close()
    cleared = traits_digest({})
    want: dict[str, set[tuple[str, ...]]] = {
        "traits": {(r[2],) for r in rows if r[1] == "trait" and r[4] != cleared},
        "memberships": {(r[3] or "", r[2]) for r in rows if r[1] == "membership"},
    }
    out_counts: dict[str, int] = {"pending": sum(1 for r in rows if r[4] == PENDING)}
    for name, key in (("traits", ("profile_id",)), ("memberships", ("segment_id", "profile_id"))):
        have, _ = _rows(out / f"{name}.csv", key)
        out_counts[f"{name}_in_ledger"] = len(want[name])
        out_counts[f"{name}_lost"] = len(want[name] - set(have))
        out_counts[f"{name}_duplicated"] = sum(n - 1 for n in have.values() if n > 1)
        out_counts[f"{name}_orphaned"] = len(set(have) - want[name])
    return out_counts


_ALLOWED = "coalesce(lower(trim(p.consent_ads)), '') IN ('granted', 'unknown', '')"


def against_desired(workspace: Path, out: Path) -> dict[str, int]:
    """The destination's rows against the desired state of the workspace's last run: a traits
    row per profile the files destination may receive (its consent rule: ads consent not
    denied), a membership row per such profile in each segment, holdouts left out."""
    con = duckdb.connect()
    try:
        con.execute(f"ATTACH '{(workspace / 'data.duckdb').as_posix()}' AS ws (READ_ONLY)")
        want: dict[str, set[tuple[str, ...]]] = {
            "traits": {
                (str(r[0]),)
                for r in con.execute(
                    f"SELECT p.profile_id FROM ws.profiles p WHERE {_ALLOWED}"
                ).fetchall()
            },
            "memberships": {
                (str(r[0]), str(r[1]))
                for r in con.execute(
                    "SELECT m.segment_id, m.profile_id FROM ws.memberships m "
                    f"JOIN ws.profiles p USING (profile_id) WHERE NOT m.holdout AND {_ALLOWED}"
                ).fetchall()
            },
        }
    finally:
        con.close()
    found: dict[str, int] = {}
    for name, key in (("traits", ("profile_id",)), ("memberships", ("segment_id", "profile_id"))):
        have, _ = _rows(out / f"{name}.csv", key)
        found[f"{name}_desired"] = len(want[name])
        found[f"{name}_lost"] = len(want[name] - set(have))
        found[f"{name}_duplicated"] = sum(n - 1 for n in have.values() if n > 1)
        found[f"{name}_unexpected"] = len(set(have) - want[name])
    return found


def kill_mid_apply(
    root: Path,
    config: str,
    planned: int,
    fraction: float,
    command: Callable[[Path], tuple[list[str], dict[str, str]]],
    run: Callable[[Path], dict[str, Any]],
) -> dict[str, Any]:
    """Kill a first run into ``root/kill`` (its ``config``) once ``fraction`` of ``planned``
    changes are journalled; resume it with ``run``; compare with ``root/out``."""
    kroot = root / "kill"
    kroot.mkdir(exist_ok=True)
    cfg = kroot / "connector.toml"
    cfg.write_text(config)
    argv, env = command(cfg)
    target = max(1, int(planned * fraction) // _BATCH)
    started = time.perf_counter()
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # noqa: S603
    killed_at = 0
    while proc.poll() is None:
        killed_at = _listed(kroot / "out")
        if killed_at >= target:
            os.kill(proc.pid, signal.SIGKILL)
            break
        time.sleep(0.02)
    code = proc.wait()
    resumed = run(cfg)
    return {
        "killed": code == -signal.SIGKILL,
        "batches_before_kill": killed_at,
        "resume": {k: resumed[k] for k in ("status", "stages", "cpu", "counts", "wall")},
        "desired": against_desired(kroot / "ws", kroot / "out"),
        "ledger": against_ledger(kroot / "ws", kroot / "out"),
        "uninterrupted": compare_outputs(root / "out", kroot / "out"),
        "seconds": round(time.perf_counter() - started, 1),
    }
