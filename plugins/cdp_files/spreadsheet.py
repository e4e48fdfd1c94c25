"""CSV cells that a spreadsheet would run as a formula are written inert, and read back as sent.

An export is opened in Excel, LibreOffice or Google Sheets, which evaluate a cell starting with
``=``, ``+``, ``-``, ``@`` (and a tab or carriage return before one): ``=cmd|'/ccalc'!a0@x.com``
is a valid email address and ``=HYPERLINK(...)`` a possible segment name (CSV injection, OWASP
"CSV Injection"). Such a cell is prefixed with ``'``, the quote spreadsheets read as "text";
plain numbers (``-3``, ``+1.5e3``) are left alone. A cell that already starts with ``'`` gets one
more, so reading back strips exactly one and the sink's state round-trips.
"""

from __future__ import annotations

import re

__all__ = ["from_cell", "to_cell"]

_TRIGGERS = ("=", "+", "-", "@", "\t", "\r", "'")
_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")


def to_cell(value: str) -> str:
    """``value`` as written to a CSV cell: inert for a spreadsheet."""
    if value.startswith(_TRIGGERS) and not _NUMBER.fullmatch(value):
        return "'" + value
    return value


def from_cell(cell: str) -> str:
    """The value a cell written by ``to_cell`` holds."""
    return cell[1:] if cell.startswith("'") else cell
