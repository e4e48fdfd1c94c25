"""The ledger's change clock: which rows changed since a reader last looked.

Every transaction that writes ledger rows takes the next tick of ``ledger_clock`` (an update of
its one row, so the row lock orders writers on PostgreSQL as SQLite's write lock does) and
stamps the rows it inserts or replaces with it (``ledger.seq``) and the keys it deletes in
``ledger_gone``. A reader that holds the rows as of tick ``n`` then needs only the rows and
deleted keys stamped after ``n`` (the planner's mirror, ``connector.sync.mirror_file``). A
write that does not stamp (erasure, a segment forgotten: rare) starts a new ``epoch`` instead,
which tells every reader to copy the whole ledger again, and drops the deleted keys kept so far
(no reader can use them any more, and an erased person's ids are not kept).

The deleted keys are otherwise kept until they outnumber the ledger's own rows (``compact``):
past that point a reader's delta would read more buried keys than a whole copy reads rows, so a
new epoch drops them and each reader copies the ledger once afresh. Without it the table grew
with every key ever removed (people who left a segment, profiles merged away) for as long as no
erasure happened.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
from sqlalchemy import Connection, func, select, text, update

from connector.state.ledger_arrow import COLUMNS
from connector.state.schema import ledger, ledger_clock, ledger_gone

__all__ = [
    "GONE_KEPT_MIN",
    "Delta",
    "LedgerMark",
    "bury",
    "compact",
    "delta",
    "mark_of",
    "new_epoch",
    "tick",
]

# Below this many deleted keys the table is left alone whatever the ledger's size: a new epoch
# costs every reader a whole copy, which a small table never outweighs.
GONE_KEPT_MIN = 100_000


def tick(conn: Connection) -> int:
    """The next tick, for the rows this transaction writes."""
    conn.execute(
        update(ledger_clock).where(ledger_clock.c.id == 1).values(seq=ledger_clock.c.seq + 1)
    )
    return int(conn.execute(select(ledger_clock.c.seq).where(ledger_clock.c.id == 1)).scalar_one())


def new_epoch(conn: Connection) -> None:
    """Rows changed without a tick: every reader's copy is stale, and the deleted keys go."""
    conn.execute(
        update(ledger_clock)
        .where(ledger_clock.c.id == 1)
        .values(seq=ledger_clock.c.seq + 1, epoch=secrets.token_hex(16))
    )
    conn.execute(ledger_gone.delete())


def compact(conn: Connection, min_rows: int | None = None) -> int:
    """Drop the deleted keys (a new epoch) once there are more than ``min_rows`` of them
    (default ``GONE_KEPT_MIN``) and more than the ledger has rows; returns how many were
    dropped (0: kept)."""
    gone = int(conn.execute(select(func.count()).select_from(ledger_gone)).scalar_one())
    if gone <= (GONE_KEPT_MIN if min_rows is None else min_rows):
        return 0
    rows = int(conn.execute(select(func.count()).select_from(ledger)).scalar_one())
    if gone <= rows:
        return 0
    new_epoch(conn)
    return gone


def bury(conn: Connection, destination: str, keys: Sequence[str], seq: int) -> None:
    """Note that ``keys`` of ``destination`` were deleted at tick ``seq``."""
    if not keys:
        return
    mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"  # SQLite; psycopg
    conn.exec_driver_sql(
        f"INSERT INTO {ledger_gone.name} (destination, key, seq) VALUES ({mark}, {mark}, "
        f"{int(seq)}) ON CONFLICT (destination, key) DO UPDATE SET seq = excluded.seq",
        [(destination, k) for k in keys],
    )


@dataclass(frozen=True, slots=True)
class LedgerMark:
    """Where the ledger of one destination stands: the clock's epoch and tick, and its rows."""

    epoch: str
    seq: int
    rows: int


def mark_of(conn: Connection, destination: str) -> LedgerMark:
    epoch, seq = conn.execute(select(ledger_clock.c.epoch, ledger_clock.c.seq)).one()
    rows = conn.execute(
        select(func.count()).select_from(ledger).where(ledger.c.destination == destination)
    ).scalar_one()
    return LedgerMark(str(epoch), int(seq), int(rows))


@dataclass(frozen=True, slots=True)
class Delta:
    """The rows of one destination stamped after a tick (``COLUMNS``), and the keys deleted."""

    rows: pa.Table
    gone: list[str]


def delta(conn: Connection, destination: str, after: int, most: int) -> Delta | None:
    """What changed after tick ``after``; None when more than ``most`` rows did (a whole copy
    is then as cheap)."""
    changed = conn.execute(
        text("SELECT count(*) FROM ledger WHERE destination = :d AND seq > :s"),
        {"d": destination, "s": after},
    ).scalar_one()
    if int(changed) > most:
        return None
    rows = _fetch(
        conn,
        f"SELECT {', '.join(COLUMNS)} FROM ledger WHERE destination = :d AND seq > :s",
        {"d": destination, "s": after},
    )
    gone = _fetch(
        conn,
        "SELECT key FROM ledger_gone WHERE destination = :d AND seq > :s",
        {"d": destination, "s": after},
    )
    columns = [pa.array(c, pa.string()) for c in zip(*rows, strict=True)] if rows else None
    table = (
        pa.table(columns, names=list(COLUMNS))
        if columns
        else pa.table({c: pa.array([], pa.string()) for c in COLUMNS})
    )
    return Delta(table, [str(k) for (k,) in gone])


def _fetch(conn: Connection, sql: str, params: dict[str, Any]) -> list[tuple[Any, ...]]:
    return [tuple(r) for r in conn.execute(text(sql), params)]
