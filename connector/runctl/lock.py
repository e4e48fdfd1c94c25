"""The run lock: one run per pipeline at a time, whoever starts it (cron, the scheduler, a user).

Two layers, both released by the operating system when the holder dies, so a ``kill -9`` never
leaves a lock that needs cleaning up by hand:

- a file lock (``flock``) on ``<workspace>/run.lock``: it guards the workspace's local stores
  (DuckDB allows one writer) and is the whole lock with the default SQLite state store; the kernel
  drops it when the process exits, however it exits;
- with a PostgreSQL state store, also a session-level advisory lock
  (``pg_try_advisory_lock``) held on a dedicated connection, so runs on different machines sharing
  one state database never overlap either. The server releases it when that connection closes;
  TCP keepalives make a vanished host's connection (and so its lock) time out too.

A sidecar ``run.lock.json`` names the holder (pid, host, since, role) for the "locked" message;
it is informational only, never trusted to decide who holds the lock.

``connector stream`` holds the same lock for as long as it runs (its micro-batches write the
data store and the ledger). A scheduled run that finds it held by a stream does not fail: it
leaves ``run.lock.want`` and waits (``stream.yield_wait``); the stream sees the file between
micro-batches, closes its stores and releases the lock, and takes it back once the run removed
the file. So the two never write at once, and the run never loses its slot to the stream.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from datetime import UTC, datetime
from hashlib import blake2b
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout
from sqlalchemy import Connection, Engine, create_engine, text
from sqlalchemy.pool import NullPool

from connector.errors import RunLockedError

__all__ = ["ADVISORY_KEY", "RunLock", "run_lock"]

log = logging.getLogger(__name__)

# One pipeline per state database: the advisory key is a constant (a signed 64-bit int derived
# from a fixed name), so every process pointing at the same database contends for the same lock.
ADVISORY_KEY = int.from_bytes(
    blake2b(b"cdp-connector/run-lock", digest_size=8).digest(), "big", signed=True
)

# libpq keepalives: a holder whose host vanished (no FIN/RST) loses its session, hence its
# advisory lock, after ~idle + interval * count seconds instead of the kernel's 2-hour default.
_PG_KEEPALIVES = {
    "keepalives": 1,
    "keepalives_idle": 30,
    "keepalives_interval": 10,
    "keepalives_count": 3,
}


class RunLock:
    """Non-blocking: ``acquire`` either takes the lock or raises ``RunLockedError`` at once."""

    def __init__(self, workspace: Path, state_url: str | None = None, role: str = "run") -> None:
        self.path = workspace / "run.lock"
        self.info_path = workspace / "run.lock.json"
        self.want_path = workspace / "run.lock.want"
        self.role = role
        self.state_url = state_url
        self._file = FileLock(str(self.path), mode=0o600)
        self._engine: Engine | None = None
        self._conn: Connection | None = None

    @property
    def uses_advisory_lock(self) -> bool:
        return bool(self.state_url) and str(self.state_url).startswith("postgresql")

    def acquire(self) -> None:
        try:
            self._file.acquire(timeout=0)
        except Timeout:
            raise RunLockedError(self._locked_message()) from None
        try:
            if self.uses_advisory_lock:
                self._acquire_advisory()
        except BaseException:
            self._file.release()
            raise
        with suppress(OSError):
            self.info_path.touch(mode=0o600)
            self.info_path.write_text(
                json.dumps(
                    {
                        "pid": os.getpid(),
                        "host": socket.gethostname(),
                        "since": datetime.now(UTC).isoformat(timespec="seconds"),
                        "role": self.role,
                    }
                )
            )

    def _acquire_advisory(self) -> None:
        # NullPool + AUTOCOMMIT: a connection of its own, never returned to a pool and never
        # "idle in transaction" for the length of a run; closing it releases the lock.
        self._engine = create_engine(
            str(self.state_url), poolclass=NullPool, connect_args=_PG_KEEPALIVES
        )
        conn = self._engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        got = conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": ADVISORY_KEY}).scalar()
        if not got:
            conn.close()
            self._engine.dispose()
            self._engine = None
            raise RunLockedError(
                "another run holds the lock: a run using the same PostgreSQL state database "
                "is in progress (wait for it, or check `connector runs`)"
            )
        self._conn = conn

    def release(self) -> None:
        if self._conn is not None:
            try:
                self._conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": ADVISORY_KEY})
            except Exception as exc:  # noqa: BLE001 - closing the session releases it anyway
                log.warning("advisory unlock failed (%s); closing the session releases it", exc)
            finally:
                self._conn.close()
                self._conn = None
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None
        with suppress(OSError):
            self.info_path.unlink()
        self._file.release()

    def wanted(self) -> bool:
        """Whether a scheduled run is waiting for this (stream's) lock."""
        return self.want_path.exists()

    def held_by_stream(self) -> bool:
        return self._holder().get("role") == "stream"

    def acquire_waiting_for_stream(self, wait: float, poll: float = 0.2) -> None:
        """Acquire; when a stream holds the lock, ask it to hand over and wait up to ``wait``
        seconds. Anything else holding it fails at once, as ``acquire`` does."""
        if self.try_acquire():
            return
        if wait <= 0 or not self.held_by_stream():
            self.acquire()  # raises the usual "locked" error
        deadline = time.monotonic() + wait
        with suppress(OSError):
            self.want_path.touch(mode=0o600)
        try:
            while not self.try_acquire():
                if time.monotonic() >= deadline:
                    self.acquire()  # a last try: the "locked" error if it fails
                    return
                time.sleep(poll)
        finally:
            with suppress(OSError):
                self.want_path.unlink()

    def try_acquire(self) -> bool:
        try:
            self.acquire()
        except RunLockedError:
            return False
        return True

    def _holder(self) -> dict[str, Any]:
        try:
            data = json.loads(self.info_path.read_text())
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def _locked_message(self) -> str:
        holder = self._holder()
        who = (
            f" (pid {holder['pid']} on {holder.get('host', '?')} since {holder.get('since', '?')})"
            if "pid" in holder
            else ""
        )
        return (
            f"another run holds the lock on {self.path.parent}{who}: wait for it to finish, "
            "or check `connector runs`"
        )


@contextmanager
def run_lock(
    workspace: Path, state_url: str | None = None, *, stream_wait: float = 0.0
) -> Iterator[RunLock]:
    """Hold the run lock; ``stream_wait`` seconds are waited for a stream to hand it over."""
    lock = RunLock(workspace, state_url)
    lock.acquire_waiting_for_stream(stream_wait)
    try:
        yield lock
    finally:
        lock.release()
