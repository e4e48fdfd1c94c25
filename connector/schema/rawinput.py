"""Bounded reading of outside files: lines of limited length, a decompression budget, strict text.

A gzip of a few megabytes can hold one line of gigabytes, and a Latin-1 export decoded with
replacement turns ``renée`` and ``renèe`` into the same wrong address. Every reader of line
files goes through here, so each problem becomes one quarantined line with a reason and the
rest of the file is still read:

- a line longer than ``max_line_bytes`` is skipped in chunks, never held whole;
- a file whose decompressed bytes pass ``max_file_bytes``, or whose expansion ratio passes
  ``max_expansion`` (checked once ``expansion_floor`` bytes came out), stops with one reason;
- text is decoded strictly (a UTF-8 byte-order mark is dropped), and JSON nested deeper than
  the parser's recursion limit is a reason, not a crash.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Protocol

__all__ = [
    "BoundedLines",
    "InputLimits",
    "decode_line",
    "parse_json_object",
]

_CHUNK = 64 << 10


class Readable(Protocol):
    """What a binary file, a ``GzipFile`` or an fsspec handle share."""

    def readline(self, size: int | None = -1, /) -> bytes: ...


@dataclass(frozen=True, slots=True)
class InputLimits:
    """Per-file limits (the defaults are far above any real export and far below a bomb), and
    how a text file is written: its encoding and, for CSV, its delimiter."""

    max_line_bytes: int = 256 << 10
    max_file_bytes: int = 4 << 30
    max_expansion: int = 250
    expansion_floor: int = 64 << 20
    max_row_group_bytes: int = 1 << 30
    encoding: str = "utf-8"
    delimiter: str = ","


@dataclass(frozen=True, slots=True)
class Line:
    """One physical line: ``data`` is None when it was longer than the limit (then skipped)."""

    number: int
    data: bytes | None
    size: int


class BoundedLines:
    """Physical lines of a binary stream within ``limits``; ``stopped`` says why it ended early.

    ``consumed`` returns how many compressed bytes were read so far (None for a plain file),
    for the expansion check.
    """

    def __init__(
        self,
        fh: Readable,
        limits: InputLimits,
        consumed: Callable[[], int] | None = None,
    ) -> None:
        self._fh = fh
        self.limits = limits
        self._consumed = consumed
        self.total = 0
        self.stopped: str | None = None

    def _budget_left(self) -> bool:
        lim = self.limits
        if self.total > lim.max_file_bytes:
            self.stopped = f"decompressed size passed the limit of {lim.max_file_bytes} bytes"
            return False
        if self._consumed is not None and self.total > lim.expansion_floor:
            packed = max(1, self._consumed())
            if self.total > packed * lim.max_expansion:
                self.stopped = (
                    f"expands more than {lim.max_expansion} times (a decompression bomb?)"
                )
                return False
        return True

    def __iter__(self) -> Iterator[Line]:
        limit = self.limits.max_line_bytes
        number = 0
        while self._budget_left():
            data = self._fh.readline(limit + 1)
            if not data:
                return
            number += 1
            self.total += len(data)
            if len(data) <= limit or data.endswith(b"\n"):
                yield Line(number, data, len(data))
                continue
            size = len(data)
            while self._budget_left():  # skip the rest of the over-long line, chunk by chunk
                rest = self._fh.readline(_CHUNK)
                size += len(rest)
                self.total += len(rest)
                if not rest or rest.endswith(b"\n"):
                    break
            if self.stopped is None:
                yield Line(number, None, size)


def decode_line(data: bytes, encoding: str, *, first: bool) -> str:
    """Strictly decoded text of one line; raises ``ValueError`` naming the encoding problem.

    A UTF-8 byte-order mark (Excel's "CSV UTF-8") is dropped from the first line.
    """
    utf8 = encoding.replace("_", "-").lower() in ("utf-8", "utf8")
    codec = "utf-8-sig" if first and utf8 else encoding
    try:
        return data.decode(codec)
    except UnicodeDecodeError as exc:
        bad = data[exc.start : exc.start + 1].hex().upper()
        raise ValueError(f"is not valid {encoding} (byte 0x{bad} at offset {exc.start})") from None


def parse_json_object(text: str | bytes) -> dict[str, Any] | str:
    """The JSON object of one line, or the reason it is not one (never raises)."""
    try:
        obj = json.loads(text)
    except RecursionError:
        return "JSON is nested too deeply to parse"
    except UnicodeDecodeError:
        return "is not valid UTF-8"
    except ValueError:
        return "not valid JSON"
    if not isinstance(obj, dict):
        return "not a JSON object"
    return obj
