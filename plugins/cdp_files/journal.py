"""The files sink's journal: acknowledged batches as part files, listed by one manifest.

A batch is written once, as ``_parts/<digest>.parquet`` (its content's digest), then the
manifest ``_manifest.json`` (the ordered list of parts not yet folded into the output files) is
replaced atomically; only then is the batch acknowledged. So each batch costs its own size, not
the size of everything written before it (the old sink rewrote both whole files per batch).

A batch sent again (the run was killed after the ack, before the ledger commit) has the same
digest: its part is moved to the end of the list instead of written twice. Every journal row
sets one key's whole state (a traits row, a membership), so replaying ``[.., A, X.., A]`` and
``[.., X.., A]`` gives the same result, and folding the same parts in twice changes nothing:
a crash anywhere leaves the output to be rebuilt exactly once.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from connector.sdk import crashpoint

__all__ = ["PART_SCHEMA", "Journal", "atomic_write"]

PART_SCHEMA = pa.schema(
    [
        ("seq", pa.int64()),
        ("op", pa.string()),  # upsert | unset (traits row) | add | remove (membership)
        ("profile_id", pa.string()),
        ("email", pa.string()),
        ("traits", pa.string()),  # JSON object of text values, upserts only
        ("segment_id", pa.string()),
        ("segment_name", pa.string()),
    ]
)
MANIFEST = "_manifest.json"
PARTS = "_parts"


def atomic_write(path: Path, write: Callable[[Path], object]) -> None:
    """``write`` a temporary file next to ``path``, fsync it, rename it over ``path``, and fsync
    the directory, so ``path`` is the old file or the new one, never a torn one."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    os.close(fd)
    try:
        write(Path(tmp))
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


class Journal:
    """The manifest and its parts under one output directory."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.parts_dir = root / PARTS
        self.manifest = root / MANIFEST

    def parts(self) -> list[str]:
        if not self.manifest.exists():
            return []
        names: list[str] = json.loads(self.manifest.read_text(encoding="utf-8"))["parts"]
        return names

    def paths(self) -> list[Path]:
        return [self.parts_dir / name for name in self.parts()]

    def append(self, rows: Sequence[dict[str, Any]]) -> None:
        """Write one batch's rows as a part (unless the same batch is there) and list it last."""
        body = json.dumps(rows, sort_keys=True, separators=(",", ":")).encode()
        name = hashlib.sha256(body).hexdigest()[:32] + ".parquet"
        parts = self.parts()
        if name in parts:
            parts.remove(name)  # sent again after a crash: moved last, not written twice
        else:
            self.parts_dir.mkdir(exist_ok=True)
            table = pa.Table.from_pylist(
                [{"seq": i, **row} for i, row in enumerate(rows)], schema=PART_SCHEMA
            )
            atomic_write(self.parts_dir / name, lambda tmp: pq.write_table(table, tmp))
            crashpoint("files.after_part")
        self._swap([*parts, name])

    def clear(self) -> None:
        """After the output files hold every part: an empty list, then the parts go."""
        self._swap([])
        self.sweep()

    def sweep(self) -> None:
        """Delete part files the manifest does not list (written before a crash, or folded)."""
        if not self.parts_dir.is_dir():
            return
        listed = set(self.parts())
        for path in self.parts_dir.iterdir():
            if path.name not in listed:
                path.unlink(missing_ok=True)

    def _swap(self, parts: list[str]) -> None:
        text = json.dumps({"version": 1, "parts": parts}, indent=0)
        atomic_write(self.manifest, lambda tmp: tmp.write_text(text, encoding="utf-8"))
