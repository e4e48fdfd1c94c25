"""Tables of the state store and their versioned migrations.

The state store holds what must survive and be inspected while a run works: cursors, the sync
ledger, runs and per-record errors, plugin memory and the segment catalogue. Each migration is a
numbered step applied once, in order, inside a transaction; ``meta.schema_version`` records the
last one, so an old workspace upgrades in place and a newer one is refused.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Connection,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    inspect,
    text,
)

__all__ = ["MIGRATIONS", "SCHEMA_VERSION", "ledger_clock", "ledger_gone", "metadata", "migrate"]

metadata = MetaData()

meta = Table("meta", metadata, Column("key", String(64), primary_key=True), Column("value", Text))

cursors = Table(
    "cursors",
    metadata,
    Column("source", String(128), primary_key=True),
    Column("stream", String(128), primary_key=True),
    Column("value", Text, nullable=False),
    Column("updated_at", String(32), nullable=False),
    Column("run_id", String(64)),
)

ledger = Table(
    "ledger",
    metadata,
    Column("destination", String(128), primary_key=True),
    Column("key", String(400), primary_key=True),
    Column("kind", String(16), nullable=False),
    Column("profile_id", String(64), nullable=False),
    Column("segment_id", String(128)),
    Column("digest", String(64), nullable=False),
    Column("payload", Text),
    Column("delivered_at", String(32), nullable=False),
    Column("run_id", String(64)),
    # numeric traits as delivered (JSON), for the planner's precision check (schema 4)
    Column("numbers", Text),
    # the ``ledger_clock`` tick of the write that last changed the row (schema 5): the planner's
    # mirror reads only rows changed since it last looked (``connector.sync.mirror_file``)
    Column("seq", BigInteger),
    Index("ix_ledger_seq", "destination", "seq"),
)
# One row: ``seq`` counts ledger write transactions (each takes the next tick, the row lock
# ordering them); ``epoch`` changes when rows change without a tick (erasure), telling every
# mirror to copy afresh. ``ledger_gone``: the tick that deleted each key.
ledger_clock = Table(
    "ledger_clock",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("seq", BigInteger, nullable=False),
    Column("epoch", String(32), nullable=False),
)
ledger_gone = Table(
    "ledger_gone",
    metadata,
    Column("destination", String(128), primary_key=True),
    Column("key", String(400), primary_key=True),
    Column("seq", BigInteger, nullable=False),
    Index("ix_ledger_gone_seq", "destination", "seq"),
)

runs = Table(
    "runs",
    metadata,
    Column("run_id", String(64), primary_key=True),
    Column("started_at", String(32), nullable=False),
    Column("ended_at", String(32)),
    Column("status", String(32), nullable=False),
    Column("dry_run", Boolean, nullable=False, default=False),
    Column("stages", Text),
    Column("counts", Text),
    Column("message", Text),
)

record_errors = Table(
    "record_errors",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("run_id", String(64), nullable=False),
    Column("stage", String(32), nullable=False),
    Column("plugin", String(128), nullable=False),
    Column("record_ref", String(400)),
    Column("profile_id", String(64)),
    Column("reason", Text, nullable=False),
    Column("retryable", Boolean, nullable=False, default=False),
    Column("at", String(32), nullable=False),
    Index("ix_record_errors_run", "run_id"),
    Index("ix_record_errors_at", "at"),
)

# Fingerprints of quarantined source records: the same bad record re-read by a later run (the
# lookback, a file listed again) is counted as already quarantined instead of stored again.
quarantine_seen = Table(
    "quarantine_seen",
    metadata,
    Column("source", String(128), primary_key=True),
    Column("stream", String(128), primary_key=True),
    Column("fingerprint", String(32), primary_key=True),
    Column("first_run", String(64)),
    Column("last_seen", String(32), nullable=False),
    Index("ix_quarantine_seen_last", "last_seen"),
)

plugin_state = Table(
    "plugin_state",
    metadata,
    Column("namespace", String(128), primary_key=True),
    Column("key", String(400), primary_key=True),
    Column("value", Text, nullable=False),
)

segments = Table(
    "segments",
    metadata,
    Column("segment_id", String(128), primary_key=True),
    Column("name", String(256), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("description", Text),
    Column("definition", Text),
    Column("model_version", String(64)),
    Column("size", Integer),
    Column("holdout_size", Integer),
    Column("first_seen", String(32), nullable=False),
    Column("last_changed", String(32), nullable=False),
    Column("version", Integer, nullable=False, default=1),
    Column("active", Boolean, nullable=False, default=True),
)

model_cards = Table(
    "model_cards",
    metadata,
    Column("run_id", String(64), primary_key=True),
    Column("model", String(64), primary_key=True),
    Column("card", Text, nullable=False),
    Column("auc", Float),
)


# Privacy requests (``connector forget``): never a raw identifier, only keyed hashes (HMAC with
# the workspace's privacy key), so a request can be matched again without keeping the PII.
erasure_requests = Table(
    "erasure_requests",
    metadata,
    Column("request_id", String(64), primary_key=True),
    Column("received_at", String(32), nullable=False),
    Column("status", String(16), nullable=False),
    Column("key_hashes", Text, nullable=False),
    Column("profiles", Integer, nullable=False, default=0),
    Column("destinations", Text),
    Column("completed_at", String(32)),
)
suppressions = Table(
    "suppressions",
    metadata,
    Column("key_hash", String(64), primary_key=True),
    Column("request_id", String(64), nullable=False),
    Column("created_at", String(32), nullable=False),
)
# append-only: what a privacy officer exports (request id, hash, event, when)
erasure_log = Table(
    "erasure_log",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("request_id", String(64), nullable=False),
    Column("key_hash", String(64), nullable=False),
    Column("event", String(200), nullable=False),
    Column("at", String(32), nullable=False),
)


def _v1(conn: Connection) -> None:
    metadata.create_all(conn, checkfirst=True)


def _v2(conn: Connection) -> None:
    quarantine_seen.create(conn, checkfirst=True)
    for index in record_errors.indexes:
        index.create(conn, checkfirst=True)


def _v3(conn: Connection) -> None:
    for table in (erasure_requests, suppressions, erasure_log):
        table.create(conn, checkfirst=True)


def _v4(conn: Connection) -> None:
    if "numbers" not in {c["name"] for c in inspect(conn).get_columns("ledger")}:
        conn.execute(text("ALTER TABLE ledger ADD COLUMN numbers TEXT"))


def _v5(conn: Connection) -> None:
    if "seq" not in {c["name"] for c in inspect(conn).get_columns("ledger")}:
        conn.execute(text("ALTER TABLE ledger ADD COLUMN seq BIGINT"))
    for index in ledger.indexes:
        index.create(conn, checkfirst=True)
    for table in (ledger_clock, ledger_gone):
        table.create(conn, checkfirst=True)
    if conn.execute(text("SELECT count(*) FROM ledger_clock")).scalar_one() == 0:
        conn.execute(ledger_clock.insert().values(id=1, seq=0, epoch=secrets.token_hex(16)))


Migration = Callable[[Connection], None]
MIGRATIONS: list[tuple[int, str, Migration]] = [
    (1, "initial schema", _v1),
    (2, "quarantine fingerprints; record errors indexed by time for pruning", _v2),
    (3, "privacy requests, suppressions and the erasure log", _v3),
    (4, "ledger: numeric traits as delivered", _v4),
    (5, "ledger: change ticks and deleted keys, for the planner's mirror", _v5),
]
SCHEMA_VERSION = MIGRATIONS[-1][0]


def current_version(conn: Connection) -> int:
    if not inspect(conn).has_table("meta"):
        return 0
    row = conn.execute(text("SELECT value FROM meta WHERE key = 'schema_version'")).first()
    return int(row[0]) if row else 0


def migrate(conn: Connection) -> int:
    """Apply pending migrations; return the resulting version."""
    version = current_version(conn)
    if version > SCHEMA_VERSION:
        raise RuntimeError(
            f"state store schema is version {version}, newer than this connector "
            f"({SCHEMA_VERSION}): upgrade cdp-connector"
        )
    for number, _title, step in MIGRATIONS:
        if number <= version:
            continue
        step(conn)
        conn.execute(
            meta.delete().where(meta.c.key == "schema_version"),
        )
        conn.execute(meta.insert().values(key="schema_version", value=str(number)))
        version = number
    return version
