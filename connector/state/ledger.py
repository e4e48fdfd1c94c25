"""The sync ledger: what each destination acknowledged, per key.

Keys are ``t:<profile_id>`` for a profile's traits (digest of the delivered traits; payload the
trait names, so a trait that disappears can be unset) and ``m:<segment_id>:<profile_id>`` for a
list membership this connector added. The planner diffs desired state against it; the apply
engine writes it only for acknowledged changes, in the same transaction per batch.

Before a batch leaves, its keys are marked ``pending`` (``mark_pending``): if the process dies
after the platform applied the batch but before ``record``, the next plan knows the destination
may hold those changes. A pending membership is re-added while it is wanted and removed once it
is not (both idempotent), so a crash can neither orphan a member (e.g. one who withdrew consent)
nor lose a re-add after a removal; a pending trait row keeps every trait name that may have
been delivered, so a later upsert unsets them.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa
from sqlalchemy import ColumnElement, Connection, and_, delete, func, select

from connector.plugin.changes import Change, ChangeKind
from connector.state.ledger_arrow import scan_arrow
from connector.state.ledger_clock import (
    Delta,
    LedgerMark,
    bury,
    compact,
    delta,
    mark_of,
    new_epoch,
    tick,
)
from connector.state.schema import ledger
from connector.state.store import StateStore

__all__ = [
    "PENDING",
    "Ledger",
    "LedgerEntry",
    "LedgerRow",
    "delivered_numbers",
    "membership_key",
    "trait_key",
]

_CHUNK = 500

LedgerRow = tuple[str, str, str, str | None, str, str | None, str | None]
"""(key, kind, profile_id, segment_id, digest, payload, numbers) as stored."""


def delivered_numbers(traits: Mapping[str, Any]) -> str | None:
    """The numeric traits of an upsert as delivered, for the planner to keep a score that moved
    by less than its precision (``connector.sync.settle``). Only numbers are kept: text traits
    could say something about a person, and nothing needs them back."""
    kept = {
        k: v
        for k, v in sorted(traits.items())
        if isinstance(v, int | float) and not isinstance(v, bool)
    }
    return json.dumps(kept, separators=(",", ":")) if kept else None


_COLUMNS = tuple(c.name for c in ledger.columns if c.name != "seq")


def _put_rows(conn: Connection, rows: Sequence[tuple[object, ...]], seq: int) -> None:
    """Insert or replace rows (tuples in ``_COLUMNS`` order), stamped with tick ``seq``
    (``connector.state.ledger_clock``), with the driver's own executemany.

    One upsert per row instead of a delete by key and an insert, and no SQLAlchemy per-row
    parameter processing (which cost three times SQLite's insert itself); the statement is the
    same on SQLite and PostgreSQL. Every column is text, so no type processing is skipped."""
    if not rows:
        return
    mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"  # SQLite; psycopg
    marks = ", ".join([mark] * len(_COLUMNS))
    update = ", ".join(f"{c} = excluded.{c}" for c in (*_COLUMNS[2:], "seq"))
    sql = (
        f"INSERT INTO {ledger.name} ({', '.join(_COLUMNS)}, seq) VALUES ({marks}, {int(seq)}) "
        f"ON CONFLICT (destination, key) DO UPDATE SET {update}"
    )
    conn.exec_driver_sql(sql, list(rows))


def _as_row(row: Mapping[str, object]) -> tuple[object, ...]:
    return tuple(row.get(c) for c in _COLUMNS)


def _keys_of(destination: str, keys: Sequence[object]) -> ColumnElement[bool]:
    """``destination = ? AND key IN (...)``: SQLite searches the primary key with it; a row-value
    ``(destination, key) IN ((?, ?), ...)`` made it scan the whole ledger for every 500 keys,
    so applying grew with the square of the data (most of a 100,000-profile run)."""
    return and_(ledger.c.destination == destination, ledger.c.key.in_(keys))


PENDING = "pending"  # digest of a key sent but not (yet) acknowledged


def trait_key(profile_id: str) -> str:
    return f"t:{profile_id}"


def membership_key(segment_id: str, profile_id: str) -> str:
    return f"m:{segment_id}:{profile_id}"


@dataclass(frozen=True, slots=True)
class LedgerEntry:
    key: str
    kind: str
    profile_id: str
    segment_id: str | None
    digest: str
    trait_names: tuple[str, ...]
    numbers: str | None = None
    """Numeric traits as delivered (JSON), for the planner's precision check."""


class Ledger:
    def __init__(self, store: StateStore) -> None:
        self._engine = store.engine

    def delivered_per_segment(self, destination: str) -> dict[str, int]:
        """Acknowledged memberships per segment, counted by the state store (the report's
        audience sizes; loading every entry for it cost 40 s at a million profiles)."""
        stmt = (
            select(ledger.c.segment_id, func.count())
            .where(
                ledger.c.destination == destination,
                ledger.c.kind == "membership",
                ledger.c.segment_id.is_not(None),
                ledger.c.segment_id != "",
                ledger.c.digest != PENDING,
            )
            .group_by(ledger.c.segment_id)
        )
        with self._engine.connect() as conn:
            return {str(sid): int(n) for sid, n in conn.execute(stmt)}

    def entries(self, destination: str) -> dict[str, LedgerEntry]:
        with self._engine.connect() as conn:
            rows = conn.execute(
                select(
                    ledger.c.key,
                    ledger.c.kind,
                    ledger.c.profile_id,
                    ledger.c.segment_id,
                    ledger.c.digest,
                    ledger.c.payload,
                    ledger.c.numbers,
                ).where(ledger.c.destination == destination)
            )
            return {
                r[0]: LedgerEntry(
                    r[0], r[1], r[2], r[3], r[4], tuple(json.loads(r[5] or "[]")), r[6]
                )
                for r in rows
            }

    def entries_for(self, destination: str, keys: Sequence[str]) -> dict[str, LedgerEntry]:
        """The entries of some keys only (a stream's micro-batch plans a few profiles)."""
        out: dict[str, LedgerEntry] = {}
        c = ledger.c
        with self._engine.connect() as conn:
            for i in range(0, len(keys), _CHUNK):
                rows = conn.execute(
                    select(
                        c.key, c.kind, c.profile_id, c.segment_id, c.digest, c.payload, c.numbers
                    ).where(_keys_of(destination, list(keys[i : i + _CHUNK])))
                )
                out.update(
                    (
                        r[0],
                        LedgerEntry(
                            r[0], r[1], r[2], r[3], r[4], tuple(json.loads(r[5] or "[]")), r[6]
                        ),
                    )
                    for r in rows
                )
        return out

    def scan(self, destination: str, chunk: int = 50_000) -> Iterator[list[LedgerRow]]:
        """Every row of ``destination`` in key order, ``chunk`` rows at a time (keyset paging
        on the primary key: each chunk is one index range on SQLite and PostgreSQL alike, and
        no more than one chunk is held at once, however large the ledger)."""
        # the driver's own cursor: SQLAlchemy's Row objects cost 18 of the 31 s a plan spent
        # copying 2.5 million ledger rows
        mark = "?" if self._engine.dialect.paramstyle == "qmark" else "%s"  # SQLite; psycopg
        head = (
            f"SELECT key, kind, profile_id, segment_id, digest, payload, numbers "
            f"FROM {ledger.name} WHERE destination = {mark}"
        )
        after: str | None = None
        while True:
            sql = head + (f" AND key > {mark}" if after is not None else "")
            params = (destination,) if after is None else (destination, after)
            with self._engine.connect() as conn:
                cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
                try:
                    cursor.execute(f"{sql} ORDER BY key LIMIT {int(chunk)}", params)
                    rows: list[LedgerRow] = [tuple(r) for r in cursor.fetchall()]
                finally:
                    cursor.close()
            if rows:
                yield rows
            if len(rows) < chunk:
                return
            after = rows[-1][0]

    def scan_arrow(self, destination: str, chunk: int = 200_000) -> Iterator[pa.Table]:
        """``scan``'s rows as Arrow tables (``ledger_arrow.COLUMNS``, text): the planner's copy
        of a destination's ledger (``connector.sync.mirror``)."""
        return scan_arrow(self._engine, destination, chunk)

    def since(
        self, destination: str, after: int | None, most: int
    ) -> tuple[LedgerMark, Delta | None]:
        """Where ``destination``'s rows stand, and (``after``: a tick) what changed since,
        read from one snapshot; no changes when more than ``most`` rows changed
        (``connector.state.ledger_clock``)."""
        with self._engine.connect() as conn:
            if conn.dialect.name == "postgresql":  # one snapshot for every statement below
                conn.execution_options(isolation_level="REPEATABLE READ")
            with conn.begin():
                found = mark_of(conn, destination)
                if after is None or after > found.seq:
                    return found, None
                return found, delta(conn, destination, after, most)

    def for_profile(self, profile_id: str) -> list[tuple[str, str, str | None, str, str | None]]:
        """(destination, kind, segment_id, delivered_at, run_id) of what was sent about one
        person, oldest first: what ``profiles explain`` shows as "sent"."""
        c = ledger.c
        query = select(c.destination, c.kind, c.segment_id, c.delivered_at, c.run_id)
        with self._engine.connect() as conn:
            rows = conn.execute(
                query.where(c.profile_id == profile_id).order_by(c.delivered_at, c.destination)
            )
            return [(r[0], r[1], r[2], r[3], r[4]) for r in rows]

    def count(self, destination: str | None = None) -> int:
        with self._engine.connect() as conn:
            stmt = select(func.count()).select_from(ledger)
            if destination:
                stmt = stmt.where(ledger.c.destination == destination)
            return int(conn.execute(stmt).scalar_one())

    def trait_names(self) -> frozenset[str]:
        """Every trait name delivered to any destination (what our own writes may echo)."""
        with self._engine.connect() as conn:
            rows = conn.execute(select(ledger.c.payload).where(ledger.c.kind == "trait").distinct())
            return frozenset(name for (payload,) in rows for name in json.loads(payload or "[]"))

    def has_any(self, destination: str) -> bool:
        """Whether anything was ever delivered to ``destination`` (its first sync is not)."""
        with self._engine.connect() as conn:
            stmt = select(ledger.c.key).where(ledger.c.destination == destination).limit(1)
            return conn.execute(stmt).first() is not None

    def forget_segment(self, destination: str, segment_id: str) -> int:
        """Drop a segment's memberships, e.g. after the platform lost the audience."""
        with self._engine.begin() as conn:
            result = conn.execute(
                delete(ledger).where(
                    ledger.c.destination == destination, ledger.c.segment_id == segment_id
                )
            )
            new_epoch(conn)  # rare: every mirror copies the ledger afresh
            return int(result.rowcount or 0)

    def compact_gone(self, *, min_rows: int | None = None) -> int:
        """Drop the deleted keys kept for the planner's copies once they outnumber the ledger
        (``connector.state.ledger_clock.compact``); returns how many went (0: none)."""
        with self._engine.begin() as conn:
            return compact(conn, min_rows)

    def mark_pending(
        self, destination: str, changes: Iterable[Change], run_id: str | None
    ) -> dict[str, dict[str, Any] | None]:
        """Note, before sending, that these keys may change at the destination (one transaction).

        Returns each key's previous row (None: it had none), for ``record`` to put back when the
        destination answered that it did not apply a change.
        """
        batch = list(changes)
        if not batch:
            return {}
        now = datetime.now(UTC).isoformat()
        keys = [ch.key for ch in batch]
        with self._engine.begin() as conn:
            seq = tick(conn)
            previous: dict[str, dict[str, Any] | None] = dict.fromkeys(keys)
            for i in range(0, len(keys), _CHUNK):
                rows = conn.execute(
                    select(ledger).where(_keys_of(destination, keys[i : i + _CHUNK]))
                )
                previous.update((r.key, dict(r._mapping)) for r in rows)
            known = {
                k: tuple(json.loads(row["payload"] or "[]"))
                for k, row in previous.items()
                if row is not None
            }
            put: list[tuple[object, ...]] = []
            for ch in batch:
                upsert = ch.kind is ChangeKind.UPSERT
                names = sorted(set(known.get(ch.key, ())) | set(ch.traits)) if upsert else None
                put.append(
                    _as_row(
                        {
                            "destination": destination,
                            "key": ch.key,
                            "kind": "trait" if upsert else "membership",
                            "profile_id": ch.recipient.profile_id,
                            "segment_id": ch.segment.id if ch.segment else None,
                            "digest": PENDING,
                            "payload": json.dumps(names) if upsert else None,
                            "delivered_at": now,
                            "run_id": run_id,
                        }
                    )
                )
            _put_rows(conn, put, seq)
        return previous

    def record(
        self,
        destination: str,
        changes: Iterable[Change],
        run_id: str | None,
        *,
        restore: Mapping[str, dict[str, Any] | None] | None = None,
    ) -> None:
        """Record acknowledged changes (one transaction): upserts/adds stored, removes deleted.

        ``restore`` puts back the rows ``mark_pending`` saw for keys the destination answered it
        did not apply (rejected, gave up, refused credentials): they are as before the batch.
        """
        now = datetime.now(UTC).isoformat()
        put: list[tuple[object, ...]] = []
        gone: list[str] = []
        for ch in changes:
            if ch.kind is ChangeKind.REMOVE:
                gone.append(ch.key)
                continue
            upsert = ch.kind is ChangeKind.UPSERT
            put.append(
                _as_row(
                    {
                        "destination": destination,
                        "key": ch.key,
                        "kind": "trait" if upsert else "membership",
                        "profile_id": ch.recipient.profile_id,
                        "segment_id": ch.segment.id if ch.segment else None,
                        "digest": ch.digest,
                        "payload": json.dumps(sorted(ch.traits)) if upsert else None,
                        "numbers": delivered_numbers(ch.traits) if upsert else None,
                        "delivered_at": now,
                        "run_id": run_id,
                    }
                )
            )
        back = [_as_row(row) for row in (restore or {}).values() if row is not None]
        # removed, and refused keys that had no row before the batch: gone again
        keys = gone + [k for k, row in (restore or {}).items() if row is None]
        with self._engine.begin() as conn:
            seq = tick(conn)
            for i in range(0, len(keys), _CHUNK):
                chunk = keys[i : i + _CHUNK]
                conn.execute(delete(ledger).where(_keys_of(destination, chunk)))
            bury(conn, destination, keys, seq)
            _put_rows(conn, put + back, seq)
