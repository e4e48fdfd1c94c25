"""The state store: an SQLAlchemy engine over SQLite (default) or any SQLAlchemy URL.

SQLite runs in WAL mode with a busy timeout so the CLI can read runs while a run writes; the
database file is created readable by its owner only.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.exc import DBAPIError

from connector.state.schema import migrate

__all__ = ["StateStore"]


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA busy_timeout=30000")
    # an erased person's rows are overwritten on delete, not left in free pages
    cur.execute("PRAGMA secure_delete=ON")
    cur.close()


class StateStore:
    def __init__(self, url: str) -> None:
        self.url = url
        self.engine: Engine = create_engine(url, future=True)
        if self.engine.dialect.name == "sqlite":
            event.listen(self.engine, "connect", _sqlite_pragmas)
        try:
            self.version = self._migrate()
        except BaseException:
            self.engine.dispose()  # a refused or failed migration leaves no open connection
            raise

    def _migrate(self) -> int:
        """Migrate once, whoever comes first: two processes opening a new store together (two
        runs started at once, one of which must then exit 4 on the run lock) would otherwise
        both create the tables, and the slower one fails on PostgreSQL's catalogue or SQLite's
        lock. PostgreSQL serialises on an advisory lock; a lost race elsewhere is retried and
        then finds the schema in place."""
        for attempt in range(5):
            try:
                with self.engine.begin() as conn:
                    if self.engine.dialect.name == "postgresql":
                        conn.execute(text("SELECT pg_advisory_xact_lock(7244153)"))
                    return migrate(conn)
            except DBAPIError:
                if attempt == 4:
                    raise
                time.sleep(0.2 * (attempt + 1))
        raise AssertionError("unreachable")

    @classmethod
    def for_workspace(cls, workspace: Path, url: str | None = None) -> StateStore:
        if url:
            return cls(url)
        path = workspace / "state.db"
        if not path.exists():
            path.touch(mode=0o600)
        os.chmod(path, 0o600)
        return cls(f"sqlite:///{path}")

    def close(self) -> None:
        self.engine.dispose()
