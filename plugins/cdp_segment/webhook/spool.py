"""The webhook spool: a SQLite table of received messages, unique by messageId.

Durability: WAL with ``synchronous=FULL`` fsyncs the log on every commit, so once ``store``
returns the rows survive a crash or power cut; the receiver answers 200 only after that.
Segment retries a webhook delivery on 5xx for up to four hours (facts 3.3); the unique
messageId makes a retry of an already-stored event a no-op instead of a second row.

Throughput: one fsync per event would cap the receiver at a few hundred events per second,
so ``GroupWriter`` commits whatever arrived while the previous commit was syncing in one
transaction (group commit) and then wakes every waiting request.
"""

from __future__ import annotations

import queue
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path

__all__ = ["GroupWriter", "Spool", "SpoolError"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS spool (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    message_id TEXT NOT NULL UNIQUE,
    received_at REAL NOT NULL,
    body TEXT NOT NULL
)
"""


class SpoolError(Exception):
    """The spool could not store a message: the receiver answers 5xx so Segment retries."""


class Spool:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._conn = sqlite3.connect(
            path, timeout=30, isolation_level=None, check_same_thread=False
        )
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=FULL")
        self._conn.execute(_SCHEMA)
        self._lock = threading.Lock()

    def store_many(self, items: list[tuple[str, str]]) -> list[bool]:
        """Insert (message_id, body) pairs in one transaction; True where the row is new."""
        now = time.time()
        inserted: list[bool] = []
        with self._lock:
            cur = self._conn.cursor()
            cur.execute("BEGIN IMMEDIATE")
            try:
                for mid, body in items:
                    cur.execute(
                        "INSERT OR IGNORE INTO spool (message_id, received_at, body) "
                        "VALUES (?, ?, ?)",
                        (mid, now, body),
                    )
                    inserted.append(cur.rowcount == 1)
                cur.execute("COMMIT")
            except BaseException:
                # whatever failed (sqlite, an unencodable value), never leave the spool locked
                # inside an open transaction
                cur.execute("ROLLBACK")
                raise
        return inserted

    def read(self, since_seq: int = 0) -> Iterator[tuple[int, str]]:
        """(seq, body) from ``since_seq`` inclusive, in arrival order, in pages."""
        last = since_seq - 1
        while True:
            with self._lock:
                rows = self._conn.execute(
                    "SELECT seq, body FROM spool WHERE seq > ? ORDER BY seq LIMIT 5000", (last,)
                ).fetchall()
            if not rows:
                return
            for seq, body in rows:
                yield int(seq), str(body)
            last = int(rows[-1][0])

    def prune(self, before_seq: int, older_than: float) -> int:
        """Delete rows the core has stored (``seq < before_seq``) received before ``older_than``.

        Keeping a day of rows keeps a Segment retry of an old delivery deduplicated here too.
        """
        with self._lock:
            cur = self._conn.execute(
                "DELETE FROM spool WHERE seq < ? AND received_at < ?", (before_seq, older_than)
            )
            return cur.rowcount

    def count(self) -> int:
        with self._lock:
            return int(self._conn.execute("SELECT count(*) FROM spool").fetchone()[0])

    def message_ids(self) -> list[str]:
        with self._lock:
            return [str(r[0]) for r in self._conn.execute("SELECT message_id FROM spool")]

    def close(self) -> None:
        with self._lock:
            self._conn.close()


class _Pending:
    __slots__ = ("body", "done", "error", "inserted", "message_id")

    def __init__(self, message_id: str, body: str) -> None:
        self.message_id = message_id
        self.body = body
        self.done = threading.Event()
        self.inserted = False
        self.error: str | None = None


class GroupWriter:
    """One writer thread; ``submit`` blocks until the message is durably committed."""

    def __init__(self, spool: Spool, *, max_batch: int = 1000) -> None:
        self._spool = spool
        self._max_batch = max_batch
        self._queue: queue.Queue[_Pending | None] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="segment-spool", daemon=True)
        self._thread.start()

    def submit(self, message_id: str, body: str, timeout: float = 20.0) -> bool:
        """Store one message; True if new, False if a duplicate; ``SpoolError`` otherwise."""
        pending = _Pending(message_id, body)
        self._queue.put(pending)
        if not pending.done.wait(timeout):
            raise SpoolError("spool commit timed out")
        if pending.error is not None:
            raise SpoolError(pending.error)
        return pending.inserted

    def submit_many(self, items: list[tuple[str, str]], timeout: float = 60.0) -> list[bool]:
        """Store a batch's messages (group-committed with whatever else is queued); True where
        new. ``SpoolError`` if any could not be stored: the sender retries the whole batch, and
        the messages already stored are duplicates then."""
        pending = [_Pending(mid, body) for mid, body in items]
        for p in pending:
            self._queue.put(p)
        deadline = time.monotonic() + timeout
        for p in pending:
            if not p.done.wait(max(0.0, deadline - time.monotonic())):
                raise SpoolError("spool commit timed out")
        errors = [p.error for p in pending if p.error is not None]
        if errors:
            raise SpoolError(errors[0])
        return [p.inserted for p in pending]

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            batch = [first]
            while len(batch) < self._max_batch:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    self._queue.put(None)  # finish this batch, then stop
                    break
                batch.append(item)
            try:
                self._store(batch)
            finally:
                for p in batch:
                    p.done.set()

    def _store(self, batch: list[_Pending]) -> None:
        """Commit a batch, or its messages one by one if it fails, so a bad message is refused
        alone. The thread must outlive any bad batch: if it died, every later delivery would
        wait for a commit that never comes and be refused."""
        try:
            results = self._spool.store_many([(p.message_id, p.body) for p in batch])
        except Exception as exc:  # noqa: BLE001 - reported per message, never fatal
            if len(batch) > 1:
                for p in batch:
                    self._store([p])
                return
            batch[0].error = f"spool write failed: {type(exc).__name__}"
            return
        for p, new in zip(batch, results, strict=True):
            p.inserted = new

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join(timeout=30)
