"""Warnings a source logs while one stream is read, kept for the run report.

A source warns about things that lose nothing but deserve a look (columns outside the canonical
layout, a phone with an extension left out of identity); a warning only in a log that nobody
reads is the same as none, so the pull stage counts them per stream and keeps a few redacted
samples in the run's stage record, which `connector runs show`, the summary and the HTML report
print.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from connector.logs import redact

__all__ = ["StreamWarnings", "capture_warnings"]

SAMPLES = 5


class StreamWarnings(logging.Handler):
    """Counts WARNING-or-worse records logged in this thread by anything but the core."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.count = 0
        self.samples: list[str] = []
        self._thread = threading.get_ident()

    def emit(self, record: logging.LogRecord) -> None:
        if record.thread != self._thread or record.name.startswith("connector."):
            return
        self.count += 1
        if len(self.samples) < SAMPLES:
            self.samples.append(redact(record.getMessage())[:200])


@contextmanager
def capture_warnings() -> Iterator[StreamWarnings]:
    """Attach a ``StreamWarnings`` to the root logger for the ``with`` block."""
    handler = StreamWarnings()
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield handler
    finally:
        root.removeHandler(handler)
