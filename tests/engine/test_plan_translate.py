"""Every statement the planner runs has a Spark translation that reads only the plan's own
tables: a guard in the default suite (no JVM) for what the parity suite checks on Spark."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import duckdb
import sqlglot
from sqlglot import exp

from connector.engine.plan_spark import SparkPlanDatabase
from connector.plugin.changes import Recipient, SegmentRef, TraitSpec
from connector.state.ledger import LedgerEntry
from connector.sync.desired import DesiredState
from connector.sync.plan import plan_destination
from connector.sync.plan_db import DuckPlanDatabase

VIP = SegmentRef("vip", "VIP")


class Recording(DuckPlanDatabase):
    """DuckDB's plan database, keeping each statement with the tables it could read."""

    def __init__(self) -> None:
        super().__init__(duckdb.connect())
        self.tables: set[str] = set()
        self.statements: list[tuple[str, list[Any], frozenset[str]]] = []

    def put(self, name: str, table: Any) -> None:
        super().put(name, table)
        self.tables.add(name)

    def load(self, name: str, schema: Any, chunks: Any) -> int:
        self.tables.add(name)
        return super().load(name, schema, chunks)

    def create(self, name: str, sql: str, params: Sequence[Any] = ()) -> int:
        self.statements.append((sql, list(params), frozenset(self.tables)))
        self.tables.add(name)
        return super().create(name, sql, params)

    def rows(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        self.statements.append((sql, list(params), frozenset(self.tables)))
        return super().rows(sql, params)

    def arrow(self, sql: str, params: Sequence[Any] = ()) -> Any:
        self.statements.append((sql, list(params), frozenset(self.tables)))
        return super().arrow(sql, params)


def test_every_plan_statement_translates_to_spark_over_the_plans_views() -> None:
    state = DesiredState([TraitSpec("p", "number", "P", precision=2)], [VIP])
    for i in range(6):
        pid = f"p{i}"
        state.recipients[pid] = Recipient(pid, email=f"{pid}@example.org")
        state.consent[pid] = {"email": "granted"}
        state.traits[pid] = {"p": i / 10}
    state.members = {"vip": {"p1", "p2"}}
    ledger = {
        "t:p1": LedgerEntry("t:p1", "trait", "p1", None, "x", ("p",), '{"p":0.11}'),
        "m:vip:p3": LedgerEntry("m:vip:p3", "membership", "p3", "vip", "1", ()),
    }
    db = Recording()
    plan = plan_destination(
        "d", state, ledger, db=db, known=lambda r: r.profile_id != "p2", update_only=True
    )
    assert plan.counts() == {"upsert": 5, "add": 1, "remove": 1}, "p2 is not created"
    assert len(db.statements) >= 8
    spark = SparkPlanDatabase(None, "/nonexistent", "d")
    for sql, params, tables in db.statements:
        spark._views = {t: f"_plan_{t}" for t in tables}
        text = spark._translate(sql, params)
        read = {t.name for t in sqlglot.parse_one(text, read="spark").find_all(exp.Table)}
        assert read, text
        assert all(name.startswith("_plan_") for name in read), text
        assert "$" not in text, text
