"""The ledger finds its rows through the primary key, so a batch costs its own size.

Keys were matched with a row-value ``(destination, key) IN ((?, ?), ...)``, which SQLite runs as
a scan of the whole ledger per chunk of 500 keys: the apply stage's cost grew with the square
of the data (at 100,000 profiles, 530,000 ledger rows, most of the run). Every statement the
ledger sends while marking and recording a batch is checked with ``EXPLAIN QUERY PLAN``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import event

from connector.plugin.changes import Change, ChangeKind, Recipient
from connector.state import Ledger, StateStore


def _upsert(pid: str) -> Change:
    return Change(ChangeKind.UPSERT, Recipient(pid), f"t:{pid}", "d1", {"rfm_tier": "high"})


def test_ledger_statements_search_the_primary_key_instead_of_scanning(tmp_path: Path) -> None:
    store = StateStore(f"sqlite:///{tmp_path / 'state.db'}")
    ledger = Ledger(store)
    ledger.record("crm", [_upsert(f"p{i}") for i in range(3_000)], "r1")
    sent: list[tuple[str, Any]] = []

    def capture(_conn: Any, _cursor: Any, statement: str, params: Any, *_: Any) -> None:
        if "ledger" in statement and statement.lstrip().upper().startswith(("SELECT", "DELETE")):
            sent.append((statement, params))

    event.listen(store.engine, "before_cursor_execute", capture)
    batch = [_upsert(f"p{i}") for i in range(0, 3_000, 3)]
    before = ledger.mark_pending("crm", batch, "r2")
    ledger.record("crm", batch, "r2", restore={})
    event.remove(store.engine, "before_cursor_execute", capture)
    assert len(before) == 1_000
    assert sent, "the ledger sent no key lookups"
    with store.engine.connect() as conn:
        for statement, params in sent:
            plan = conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", params).fetchall()
            steps = " | ".join(str(row[-1]) for row in plan)
            assert "SCAN ledger" not in steps, f"{statement[:80]}... scans: {steps}"
            # the change clock's one row is found by its integer key
            assert "USING INDEX" in steps or "INTEGER PRIMARY KEY" in steps, steps
    store.close()
