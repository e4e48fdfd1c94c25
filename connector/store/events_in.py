"""Events into the data store as one Arrow table per chunk, whichever path validated them.

The bulk pull hands over validated rows as Arrow; the record-at-a-time path (platform sources,
rows the bulk rules leave to it) builds the same table from ``EventRecord`` objects, so both
meet in one ``INSERT OR REPLACE`` with the same de-duplication: within a chunk the last row of
an ``event_id`` wins, across chunks the later chunk.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from contextlib import suppress

import duckdb
import pyarrow as pa

from connector.schema.records import EventRecord
from connector.store.identity_sig import identity_signature

__all__ = ["EVENT_SCHEMA", "event_rows", "upsert_event_table"]

EVENT_SCHEMA = pa.schema(
    [
        ("event_id", pa.string()),
        ("source", pa.string()),
        ("source_event_id", pa.string()),
        ("type", pa.string()),
        ("occurred_at", pa.timestamp("us")),
        ("email", pa.string()),
        ("phone", pa.string()),
        ("ids", pa.string()),
        ("id_sig", pa.string()),
        ("revenue", pa.float64()),
        ("currency", pa.string()),
        ("properties", pa.string()),
    ]
)
"""The events table's columns a pull writes (``run_id`` is added when stored)."""


def event_rows(records: Sequence[EventRecord]) -> pa.Table:
    """Validated event records as an ``EVENT_SCHEMA`` table, in order."""
    return pa.table(
        {
            "event_id": [f"{r.source}:{r.source_event_id}" for r in records],
            "source": [r.source for r in records],
            "source_event_id": [r.source_event_id for r in records],
            "type": [r.type for r in records],
            "occurred_at": [r.occurred_at.replace(tzinfo=None) for r in records],
            "email": [r.email for r in records],
            "phone": [r.phone for r in records],
            "ids": [json.dumps(r.ids, sort_keys=True) if r.ids else "{}" for r in records],
            "id_sig": [identity_signature(r.email, r.phone, r.ids) for r in records],
            "revenue": [r.revenue for r in records],
            "currency": [r.currency for r in records],
            "properties": [
                json.dumps(r.properties, sort_keys=True, default=str) if r.properties else "{}"
                for r in records
            ],
        },
        schema=EVENT_SCHEMA,
    )


def upsert_event_table(con: duckdb.DuckDBPyConnection, rows: pa.Table, run_id: str) -> int:
    """Store ``EVENT_SCHEMA`` rows (in stream order); return how many event ids were new.

    A stored event of the same id is replaced whole (delete, then insert, in one transaction:
    cheaper in DuckDB than ``INSERT OR REPLACE``, and a crash leaves the chunk all or nothing).
    """
    if rows.num_rows == 0:
        return 0
    cols = ", ".join(EVENT_SCHEMA.names)
    incoming = rows.select(EVENT_SCHEMA.names).append_column(
        "rn", pa.array(range(rows.num_rows), pa.int64())
    )
    con.register("incoming_events_raw", incoming)
    try:
        con.execute("BEGIN")
        try:
            con.execute(
                f"""CREATE OR REPLACE TEMP TABLE incoming_events AS
                    SELECT {cols} FROM incoming_events_raw
                    QUALIFY row_number() OVER (PARTITION BY event_id ORDER BY rn DESC) = 1"""
            )
            total, known = con.execute(
                "SELECT count(*), count(e.event_id)"
                " FROM incoming_events i LEFT JOIN events e USING (event_id)"
            ).fetchall()[0]
            if known:
                con.execute(
                    """INSERT INTO events_replaced SELECT DISTINCT e.profile_id FROM events e
                       SEMI JOIN incoming_events USING (event_id) WHERE e.profile_id IS NOT NULL"""
                )
                con.execute(
                    "DELETE FROM events WHERE event_id IN (SELECT event_id FROM incoming_events)"
                )
            con.execute(
                f"INSERT INTO events ({cols}, run_id) SELECT {cols}, ? FROM incoming_events",
                [run_id],
            )
            con.execute("DROP TABLE incoming_events")
            con.execute("COMMIT")
        except BaseException:
            with suppress(duckdb.Error):  # DuckDB may have ended the transaction itself
                con.execute("ROLLBACK")
            raise
    finally:
        con.unregister("incoming_events_raw")
    return int(total) - int(known)
