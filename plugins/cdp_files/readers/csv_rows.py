"""CSV rows read line by line within the input limits, so one bad line costs one row.

Why not ``csv.DictReader`` over the whole file: a stray quote opens a field that swallows
every following row up to the next quote (200 rows read as one bad record), a duplicated
header lets the last column win silently (``consent.email`` given as ``denied,granted``), and
an undecodable byte turned a Latin-1 ``renée`` into a replacement character. Here each
record remembers the physical lines it used; a record whose multi-line field holds whole
rows is a stray quote, so only its first line is quarantined and the others are read again.
A row ending on the file's last line with no newline yet comes as an ``UNFINISHED`` record
holding it: an export appending while we read may have cut its last cell short (an address
``ann@example.or``), which parses as a good row, so the source decides whether it waits.
"""

from __future__ import annotations

import csv
from collections import Counter, deque
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from cdp_files.readers.marks import ROW, UNFINISHED
from connector.sdk import BoundedLines, InputLimits, decode_line

__all__ = ["csv_rows"]


class _Lines:
    """Decoded physical lines for ``csv.reader``, with push-back and the lines each record used."""

    def __init__(self, lines: BoundedLines, encoding: str, name: str, key_field: str) -> None:
        self._src = iter(lines)
        self._encoding = encoding
        self._name = name
        self._key = key_field
        self.pending: deque[tuple[int, str]] = deque()
        self.used: list[tuple[int, str]] = []
        # the number of a last line read with no newline (the file's end, perhaps mid-write)
        self.open_end: int | None = None
        self.problems: list[dict[str, Any]] = []
        self.max_line = lines.limits.max_line_bytes

    def __iter__(self) -> _Lines:
        return self

    def __next__(self) -> str:
        if self.pending:
            number, text = self.pending.popleft()
        else:
            number, text = self._next_good()
        self.used.append((number, text))
        return text

    def _next_good(self) -> tuple[int, str]:
        while True:
            line = next(self._src)  # StopIteration ends the csv reader's record
            if line.data is None:
                self.invalid(line.number, f"longer than {self.max_line} bytes ({line.size})")
                continue
            if not line.data.endswith(b"\n"):
                self.open_end = line.number
            try:
                return line.number, decode_line(line.data, self._encoding, first=line.number == 1)
            except ValueError as exc:
                self.invalid(line.number, f"{exc}; set encoding on the source if it is not UTF-8")

    def invalid(self, number: int, reason: str) -> None:
        self.problems.append(
            {
                "_invalid": f"{self._name} line {number}: {reason}",
                self._key: f"{self._name}:{number}",
            }
        )


def _swallowed(cells: list[str], width: int, delimiter: str) -> bool:
    """True when a multi-line field holds text shaped like whole rows (a stray quote)."""
    if width < 2:
        return False
    return any(
        segment.count(delimiter) >= width - 1
        for cell in cells
        if "\n" in cell
        for segment in cell.split("\n")[1:]
    )


def csv_rows(
    lines: BoundedLines,
    name: str,
    key_field: str,
    limits: InputLimits,
    on_header: Callable[[Sequence[str]], None],
) -> Iterator[dict[str, Any]]:
    """A dict per good row or an ``_invalid`` record; ``on_header`` sees the column names."""
    src = _Lines(lines, limits.encoding, name, key_field)
    reader = csv.reader(src, delimiter=limits.delimiter)
    try:
        header = next(reader)
    except StopIteration:
        yield from src.problems
        return
    except csv.Error as exc:
        yield {"_invalid": f"{name}: header cannot be parsed ({exc})", key_field: f"{name}:1"}
        return
    yield from src.problems
    src.problems.clear()
    if (other := _other_delimiter(header, limits.delimiter)) is not None:
        yield {
            "_invalid": f"{name}: the header is one column holding {other!r}: the file looks "
            f"{other!r}-separated; set delimiter = {other!r} on the source (the file is refused)",
            key_field: f"{name}:header",
        }
        return
    twice = sorted(h for h, n in Counter(c.strip() for c in header).items() if n > 1)
    if twice:
        yield {
            "_invalid": f"{name}: header names {', '.join(repr(h[:40]) for h in twice)} more "
            "than once; the file is refused (which column would count is a guess)",
            key_field: f"{name}:header",
        }
        return
    on_header(header)
    yield from _records(reader, src, header, name, key_field, limits.delimiter)


def _other_delimiter(header: list[str], delimiter: str) -> str | None:
    """The separator a one-column header is split by, when it is not the configured one."""
    if len(header) != 1:
        return None
    return next((d for d in (";", "\t", "|", ",") if d != delimiter and d in header[0]), None)


def _records(
    reader: Any, src: _Lines, header: list[str], name: str, key_field: str, delimiter: str
) -> Iterator[dict[str, Any]]:
    width = len(header)
    while True:
        src.used.clear()
        try:
            cells: list[str] | None = next(reader)
        except StopIteration:
            yield from src.problems
            return
        except csv.Error as exc:
            cells = None
            error = str(exc)
        yield from src.problems
        src.problems.clear()
        if not src.used:
            continue
        first = src.used[0][0]
        if len(src.used) > 1 and (cells is None or _swallowed(cells, width, delimiter)):
            src.invalid(first, "unbalanced quote; the row is skipped and the next lines read")
            src.pending.extendleft(reversed(src.used[1:]))
            yield from src.problems
            src.problems.clear()
            continue
        if cells is None:
            src.invalid(first, error)
        elif len(cells) > width:
            src.invalid(first, "more cells than the header")
        elif cells and src.open_end is not None and src.used[-1][0] == src.open_end:
            reason = f"{name} line {first}: the last line, with no newline"
            yield {
                UNFINISHED: reason,
                key_field: f"{name}:{first}",
                ROW: dict(zip(header, cells, strict=False)),
            }
        elif cells:
            yield dict(zip(header, cells, strict=False))
        yield from src.problems
        src.problems.clear()
