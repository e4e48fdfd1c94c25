"""Recognise "the disk is full" in whatever form a store reports it.

SQLite says "database or disk is full" (and SQLAlchemy may then mask it with "cannot rollback -
no transaction is active"), DuckDB says "No space left on device" or "File too large" inside an
IOException, the OS raises ENOSPC, EDQUOT or EFBIG (a file-size limit). The run turns any of
them into one ``DiskFullError`` that names the path, instead of the last, misleading message.
"""

from __future__ import annotations

import errno
import re

__all__ = ["full_path", "is_disk_full"]

_CODES = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG}
_QUOTED_PATH = re.compile(r'"(/[^"]+)"')
_PHRASES = (
    "database or disk is full",
    "disk is full",
    "no space left on device",
    "file too large",
    "disk quota exceeded",
)


def _chain(exc: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    todo: list[BaseException | None] = [exc]
    while todo:
        cur = todo.pop()
        if cur is None or any(cur is s for s in seen) or len(seen) > 20:
            continue
        seen.append(cur)
        todo.extend((cur.__cause__, cur.__context__, getattr(cur, "orig", None)))
    return seen


def is_disk_full(exc: BaseException) -> bool:
    """True when ``exc`` or anything in its cause/context chain says the disk is full."""
    for cur in _chain(exc):
        if isinstance(cur, OSError) and cur.errno in _CODES:
            return True
        text = str(cur).lower()
        if any(phrase in text for phrase in _PHRASES):
            return True
    return False


def full_path(exc: BaseException) -> str | None:
    """The file the failed write was for, when the error names one (DuckDB quotes it)."""
    for cur in _chain(exc):
        if isinstance(cur, OSError) and cur.filename:
            return str(cur.filename)
        if m := _QUOTED_PATH.search(str(cur)):
            return m.group(1)
    return None
