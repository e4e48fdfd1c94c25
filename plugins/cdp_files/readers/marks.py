"""Keys that mark a reader's record as something other than a row."""

from __future__ import annotations

__all__ = ["ROW", "UNFINISHED"]

# a record marking a last line with no newline yet, which may still be being written: a JSON
# line that does not parse (``by_format._json_lines``), or a CSV row (``csv_rows``) whose
# cells may be cut short; the source waits for its newline, or quarantines or reads it
UNFINISHED = "_unfinished"
# the CSV row an ``UNFINISHED`` record holds, read as it is once the file has been left alone
ROW = "_row"
