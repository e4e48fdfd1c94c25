"""Chunks of one source stream: records in lists, pages (Arrow) in tables, in stream order.

A source that has ``read_pages`` (``connector.plugin.protocols.PagedSource``) is read through
it, every other source through ``read``. Records are chunked by count; pages are gathered into
one table of up to ``PAGE_ROWS`` rows while their columns stay the same, so the bulk path
validates and stores large batches while memory stays bounded by one chunk. An unexpected
error from the source ends the stream only.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TypeAlias

import pyarrow as pa

from connector.errors import ConnectorError, describe
from connector.logs import redact
from connector.plugin.spec import Source, SourceRecord, Stream
from connector.store.diskfull import is_disk_full

__all__ = ["CHUNK", "PAGE_ROWS", "Chunk", "StreamReader"]

CHUNK = 5_000
PAGE_ROWS = 65_536

Chunk: TypeAlias = list[SourceRecord] | pa.Table


class StreamReader:
    """Chunks of a source stream; ``failure`` says why the source stopped early, if it did."""

    def __init__(self, source: Source, stream: Stream, since: str | None) -> None:
        self.source = source
        self.stream = stream
        self.since = since
        self.failure: str | None = None

    def _items(self) -> Iterator[SourceRecord | pa.RecordBatch]:
        paged = getattr(self.source, "read_pages", None)
        if callable(paged):
            yield from paged(self.stream, self.since)
        else:
            yield from self.source.read(self.stream, self.since)

    def chunks(self) -> Iterator[Chunk]:
        gather = _Gather()
        try:
            for item in self._items():
                yield from gather.add(item)
        except (ConnectorError, MemoryError):
            raise
        except Exception as exc:  # isolation boundary: the source's error ends this stream only
            if is_disk_full(exc):
                raise
            self.failure = redact(describe(exc))
        yield from gather.flush()


class _Gather:
    """Records into lists of ``CHUNK``, pages of one schema into tables of ``PAGE_ROWS``."""

    def __init__(self) -> None:
        self.records: list[SourceRecord] = []
        self.pages: list[pa.RecordBatch] = []
        self.rows = 0

    def add(self, item: SourceRecord | pa.RecordBatch) -> Iterator[Chunk]:
        if not isinstance(item, pa.RecordBatch):
            yield from self._pages()
            self.records.append(item)
            if len(self.records) >= CHUNK:
                yield from self._records()
            return
        yield from self._records()
        if self.pages and item.schema != self.pages[0].schema:
            yield from self._pages()
        if item.num_rows:
            self.pages.append(item)
            self.rows += item.num_rows
        if self.rows >= PAGE_ROWS:
            yield from self._pages()

    def flush(self) -> Iterator[Chunk]:
        yield from self._pages()
        yield from self._records()

    def _records(self) -> Iterator[Chunk]:
        if self.records:
            yield self.records
            self.records = []

    def _pages(self) -> Iterator[Chunk]:
        if self.pages:
            yield pa.Table.from_batches(self.pages)
            self.pages, self.rows = [], 0
