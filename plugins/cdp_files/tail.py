"""Tailing event files for ``connector stream``: complete lines appended to JSONL/NDJSON files.

The mark is a JSON object of byte offsets per file (relative path → offset after the last
complete line read), so a line half-written when we looked is read once it ends with a newline,
and a restart resumes at the committed offsets. Only uncompressed line formats can be tailed
(CSV headers, gzip members and Parquet footers are not appendable line by line); other files
are left to the scheduled run. A file that shrank (rotated, truncated) is read again from 0.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from connector.sdk import InputLimits, decode_line, parse_json_object

__all__ = ["TAILABLE", "parse_mark", "tail_lines"]

TAILABLE = (".jsonl", ".ndjson")
_READ = 1 << 20


def parse_mark(after: str | None) -> dict[str, int]:
    if not after:
        return {}
    try:
        found = json.loads(after)
    except ValueError:
        return {}
    if not isinstance(found, dict):
        return {}
    return {str(k): int(v) for k, v in found.items() if isinstance(v, int) and v >= 0}


def tail_lines(
    root: Path, files: list[Path], after: str | None, limits: InputLimits
) -> Iterator[tuple[dict[str, Any], str, str]]:
    """(JSON object or an ``_invalid`` record, its file's name, the mark after it) for each new
    complete line."""
    offsets = parse_mark(after)
    for path in files:
        if path.suffix not in TAILABLE:
            continue
        rel = path.relative_to(root).as_posix()
        start = offsets.get(rel, 0)
        try:
            size = path.stat().st_size
        except OSError:
            continue
        if size < start:
            start = 0  # truncated or replaced: what is there now is new
        if size == start:
            continue
        with path.open("rb") as fh:
            fh.seek(start)
            data = fh.read(min(size - start, _READ * 16))
        pos = start
        for raw in data.splitlines(keepends=True):
            if not raw.endswith(b"\n"):
                break  # still being written
            pos += len(raw)
            offsets[rel] = pos
            mark = json.dumps(offsets, sort_keys=True, separators=(",", ":"))
            yield _parse(raw, rel, pos, limits), path.name, mark


def _parse(raw: bytes, rel: str, pos: int, limits: InputLimits) -> dict[str, Any]:
    where = {"source_event_id": f"{rel}:{pos}"}
    if len(raw) > limits.max_line_bytes:
        return {"_invalid": f"{rel} at byte {pos}: line longer than the limit", **where}
    try:
        text = decode_line(raw.rstrip(b"\r\n"), limits.encoding, first=pos == len(raw))
    except ValueError as exc:
        return {"_invalid": f"{rel} at byte {pos}: {exc}", **where}
    if not text.strip():
        return {"_blank": True}
    obj = parse_json_object(text)
    if isinstance(obj, str):
        return {"_invalid": f"{rel} at byte {pos}: {obj}", **where}
    return obj
