"""The planner's copy of the ledger, kept in the workspace between plans, always holds what the
state store holds: refreshed by what changed (applies, partial applies, crashes that leave
pending marks, removals, merges, erasures), copied afresh whenever it cannot prove it matches.
On SQLite and PostgreSQL (``state_url``)."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, insert

from connector.plugin.changes import Change, ChangeKind, Recipient, SegmentRef
from connector.state import Ledger, StateStore
from connector.state.ledger_clock import new_epoch
from connector.state.schema import ledger as ledger_table
from connector.sync.desired import DesiredState, traits_digest
from connector.sync.mirror_file import LEDGER_COPY, KeptLedger, drop_copy
from connector.sync.plan import plan_destination
from connector.sync.planned import plan_engine

PIDS = [f"p{i}" for i in range(8)]
SEGMENTS = [SegmentRef("vip", "VIP"), SegmentRef("churn", "Churn")]


def _rows(source: Ledger | KeptLedger, destination: str) -> set[tuple[str | None, ...]]:
    return {
        tuple(row.values()) for table in source.scan_arrow(destination) for row in table.to_pylist()
    }


def _upsert(pid: str, value: int) -> Change:
    traits = {"p_buy": value / 100, "tier": "high" if value % 2 else "low"}
    return Change(ChangeKind.UPSERT, Recipient(pid), f"t:{pid}", f"d{value}", traits)


def _member(kind: ChangeKind, sid: str, pid: str) -> Change:
    seg = next(s for s in SEGMENTS if s.id == sid)
    return Change(kind, Recipient(pid), f"m:{sid}:{pid}", "1", segment=seg)


def _change(kind: str, pid: str, value: int) -> Change:
    if kind == "upsert":
        return _upsert(pid, value)
    sid = SEGMENTS[value % 2].id
    return _member(ChangeKind.ADD if kind == "add" else ChangeKind.REMOVE, sid, pid)


changes = st.lists(
    st.tuples(st.sampled_from(["upsert", "add", "remove"]), st.sampled_from(PIDS),
              st.integers(0, 9)),
    min_size=1, max_size=6,
)  # fmt: skip
steps = st.lists(
    st.tuples(
        st.sampled_from(["apply", "partial", "crash", "forget", "erase", "compact", "plan"]),
        changes,
    ),
    min_size=1,
    max_size=8,
)


def _do(store: StateStore, ledger: Ledger, dest: str, step: str, batch: list[Change]) -> None:
    """One step as the apply engine, ``connector forget`` or a lost audience makes it."""
    unique = list({c.key: c for c in batch}.values())
    if step == "apply":  # marked pending, then every change acknowledged
        before = ledger.mark_pending(dest, unique, "r")
        ledger.record(dest, unique, "r", restore={})
        assert before is not None
    elif step == "partial":  # the first acknowledged, the rest refused (put back as before)
        before = ledger.mark_pending(dest, unique, "r")
        done = unique[:1]
        ledger.record(dest, done, "r", restore={c.key: before[c.key] for c in unique[1:]})
    elif step == "crash":  # killed after the marks, before the acknowledgement
        ledger.mark_pending(dest, unique, "r")
    elif step == "forget":
        ledger.forget_segment(dest, SEGMENTS[len(batch) % 2].id)
    elif step == "compact":  # the deleted keys dropped whenever they outnumber the rows
        ledger.compact_gone(min_rows=0)
    elif step == "erase":  # as ``connector forget`` purges one person
        with store.engine.begin() as conn:
            conn.execute(
                delete(ledger_table).where(
                    ledger_table.c.profile_id == batch[0].recipient.profile_id
                )
            )
            new_epoch(conn)


@pytest.fixture
def store(state_url: str) -> Iterator[StateStore]:
    found = StateStore(state_url)
    yield found
    found.close()


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(script=steps)
def test_the_kept_copy_holds_what_the_store_holds_after_any_script(
    store: StateStore, tmp_path: Path, script: list[tuple[str, list[tuple[str, str, int]]]]
) -> None:
    ledger = Ledger(store)
    dest = "d" + secrets.token_hex(4)
    kept = KeptLedger(ledger, tmp_path / f"{dest}.duckdb")
    for step, batch in script:
        _do(store, ledger, dest, step, [_change(*c) for c in batch])
        assert _rows(kept, dest) == _rows(ledger, dest), f"after {step}"
        # the report's audience sizes, counted in the copy: the store's counts
        counted = kept.delivered_per_segment(dest)
        assert counted == ledger.delivered_per_segment(dest), f"after {step}"
    assert kept.refreshed in {"kept", "refreshed", "copied"}


def _desired() -> DesiredState:
    traits = {p: {"p_buy": i / 10, "tier": "high"} for i, p in enumerate(PIDS[:6])}
    return DesiredState(
        trait_specs=[],
        segments=SEGMENTS,
        traits=traits,
        recipients={p: Recipient(p) for p in PIDS[:6]},
        members={"vip": set(PIDS[:3]), "churn": {PIDS[5]}},
        aliases={PIDS[6]: PIDS[0]},  # p6 merged into p0: its memberships are p0's now
    )


def _current(pid: str) -> Change:
    """An upsert of what ``_desired`` wants for ``pid`` (delivered: nothing left to plan)."""
    traits = _desired().traits[pid]
    return Change(ChangeKind.UPSERT, Recipient(pid), f"t:{pid}", traits_digest(traits), traits)


def _plan(source: Ledger | KeptLedger, dest: str) -> dict[str, list[tuple[object, ...]]]:
    plan = plan_destination(dest, _desired(), source, db=plan_engine())
    try:
        return {
            kind.value: [(c.key, c.digest, c.unset, sorted(c.traits)) for c in found]
            for kind, found in plan.by_kind()
        }
    finally:
        plan.close()


def test_plans_from_the_kept_copy_equal_plans_from_a_fresh_copy(
    store: StateStore, tmp_path: Path
) -> None:
    """Apply, partial apply, a crash's pending marks, a merge's leftover memberships and an
    erasure: after each, the plan read from the kept copy is the plan read from the store."""
    ledger = Ledger(store)
    kept = KeptLedger(ledger, tmp_path / "copy.duckdb")
    script = [
        ("plan", []),
        (
            "apply",
            [_upsert(p, 3) for p in PIDS[:4]]
            + [_member(ChangeKind.ADD, "vip", p) for p in PIDS[:7]],
        ),
        ("partial", [_upsert(p, 5) for p in PIDS[2:6]]),
        ("crash", [_member(ChangeKind.REMOVE, "vip", PIDS[6]), _upsert(PIDS[1], 8)]),
        ("apply", [_member(ChangeKind.REMOVE, "vip", p) for p in PIDS[3:5]]),
        ("apply", [_current(p) for p in PIDS[:3]]),
        ("erase", [_upsert(PIDS[2], 0)]),
        ("apply", [_member(ChangeKind.ADD, "churn", PIDS[5])]),
    ]
    seen = []
    for step, batch in script:
        _do(store, ledger, "crm", step, batch)
        assert _plan(kept, "crm") == _plan(ledger, "crm"), f"after {step}"
        seen.append(kept.refreshed)
    assert seen == ["copied", *["refreshed"] * 5, "copied", "refreshed"]
    assert _plan(kept, "crm") == _plan(ledger, "crm")
    assert kept.refreshed == "kept"


def test_a_copy_that_cannot_prove_it_matches_is_copied_afresh(
    store: StateStore, tmp_path: Path
) -> None:
    """Rows written past the clock (a count that differs), a damaged file and another state
    store's copy are each caught, and the plan reads what the store holds."""
    ledger = Ledger(store)
    path = tmp_path / "copy.duckdb"
    kept = KeptLedger(ledger, path)
    ledger.record("crm", [_upsert(p, 1) for p in PIDS], "r")
    assert _rows(kept, "crm") == _rows(ledger, "crm")
    assert kept.refreshed == "copied"
    assert path.stat().st_mode & 0o777 == 0o600, "readable by its owner only"
    with store.engine.begin() as conn:  # a writer that took no tick
        conn.execute(insert(ledger_table).values(
            destination="crm", key="t:x", kind="trait", profile_id="x", digest="d",
            delivered_at="2026-01-01",
        ))  # fmt: skip
    assert _rows(kept, "crm") == _rows(ledger, "crm")
    assert kept.refreshed == "copied"
    path.write_bytes(b"not a database")
    assert _rows(kept, "crm") == _rows(ledger, "crm")
    assert kept.refreshed == "copied"
    other = StateStore(f"sqlite:///{tmp_path / 'other.db'}")
    try:
        elsewhere = Ledger(other)
        elsewhere.record("crm", [_upsert(PIDS[0], 2)], "r")
        moved = KeptLedger(elsewhere, path)  # the same file, another store: another epoch
        assert _rows(moved, "crm") == _rows(elsewhere, "crm")
        assert moved.refreshed == "copied"
    finally:
        other.close()


def test_a_refresh_cut_short_leaves_the_copy_as_it_was(
    store: StateStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A crash in the middle of a refresh rolls it back; the next plan refreshes from there."""
    import connector.sync.mirror_file as mirror_file

    ledger = Ledger(store)
    kept = KeptLedger(ledger, tmp_path / "copy.duckdb")
    ledger.record("crm", [_upsert(p, 1) for p in PIDS], "r")
    assert _rows(kept, "crm") == _rows(ledger, "crm")
    ledger.record("crm", [_upsert(PIDS[0], 4), _member(ChangeKind.ADD, "vip", PIDS[1])], "r")

    def crash(*_args: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(mirror_file, "_mark", crash)
    with pytest.raises(KeyboardInterrupt):
        _rows(kept, "crm")
    monkeypatch.undo()
    assert _rows(kept, "crm") == _rows(ledger, "crm")
    assert kept.refreshed == "refreshed"


def test_an_erasure_drops_the_copy_and_the_next_plan_copies_afresh(
    store: StateStore, tmp_path: Path
) -> None:
    """``connector forget`` deletes the copy with the ledger rows (``drop_copy``): no erased
    person's row waits in it for the next plan."""
    ledger = Ledger(store)
    kept = KeptLedger(ledger, tmp_path / LEDGER_COPY)
    ledger.record("crm", [_upsert(p, 1) for p in PIDS], "r")
    _rows(kept, "crm")
    assert (tmp_path / LEDGER_COPY).exists()
    drop_copy(tmp_path)
    assert not (tmp_path / LEDGER_COPY).exists()
    assert _rows(kept, "crm") == _rows(ledger, "crm")
    assert kept.refreshed == "copied"


def test_the_report_counts_from_the_store_while_there_is_no_copy(
    store: StateStore, tmp_path: Path
) -> None:
    """Audience sizes asked for before any plan kept a copy (``connector report`` on a fresh
    workspace, or after an erasure dropped it): the store counts, and no copy file is begun."""
    ledger = Ledger(store)
    kept = KeptLedger(ledger, tmp_path / LEDGER_COPY)
    ledger.record("crm", [_member(ChangeKind.ADD, "vip", p) for p in PIDS[:3]], "r")
    assert kept.delivered_per_segment("crm") == {"vip": 3}
    assert not (tmp_path / LEDGER_COPY).exists()
    _rows(kept, "crm")  # a plan keeps the copy; the count then comes from it, the same
    ledger.record("crm", [_member(ChangeKind.ADD, "churn", PIDS[4])], "r")
    assert kept.delivered_per_segment("crm") == {"vip": 3, "churn": 1}
    assert kept.refreshed == "refreshed"


def test_deleted_keys_are_dropped_once_they_outnumber_the_ledger(
    store: StateStore, tmp_path: Path
) -> None:
    """The keys kept for the copies' deltas grow with every removal; once they outnumber the
    ledger's rows they go (a new epoch), and the next plan copies the ledger afresh, right."""
    from sqlalchemy import func, select

    from connector.state.schema import ledger_gone

    def buried() -> int:
        with store.engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(ledger_gone)).scalar_one())

    ledger = Ledger(store)
    kept = KeptLedger(ledger, tmp_path / "copy.duckdb")
    ledger.record("crm", [_upsert(p, 1) for p in PIDS], "r")
    ledger.record("crm", [_member(ChangeKind.ADD, "vip", p) for p in PIDS], "r")
    assert _plan(kept, "crm") == _plan(ledger, "crm")
    ledger.record("crm", [_member(ChangeKind.REMOVE, "vip", p) for p in PIDS[:5]], "r")
    assert buried() == 5
    assert ledger.compact_gone(min_rows=0) == 0, "5 buried keys, 11 rows: kept"
    assert _plan(kept, "crm") == _plan(ledger, "crm")
    assert kept.refreshed == "refreshed", "read as a delta, the buried keys included"
    ledger.record("crm", [_member(ChangeKind.REMOVE, "vip", p) for p in PIDS[5:]], "r")
    ledger.record("crm", [_member(ChangeKind.REMOVE, "churn", p) for p in PIDS], "r")
    assert buried() == 16
    assert ledger.compact_gone(min_rows=16) == 0, "not above the floor: kept"
    assert ledger.compact_gone(min_rows=0) == 16, "16 buried keys, 8 rows: dropped"
    assert buried() == 0
    assert _plan(kept, "crm") == _plan(ledger, "crm")
    assert kept.refreshed == "copied", "a new epoch: the copy cannot prove it matches"
