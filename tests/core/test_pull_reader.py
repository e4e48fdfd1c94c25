"""The pull reads a stream in bounded chunks, pages and records in stream order (issue 14)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pyarrow as pa

from connector.pipeline import pull_reader
from connector.pipeline.pull_reader import StreamReader
from connector.plugin.spec import PagedSource, Stream

STREAM = Stream("events", "events", "timestamp", "occurred_at")


class _Paged:
    """A source whose pages and records are interleaved; it records how far it was read."""

    def __init__(self, items: list[Any]) -> None:
        self.items = items
        self.handed = 0

    def streams(self) -> list[Stream]:
        return [STREAM]

    def read(self, stream: Stream, since: str | None) -> Iterator[dict[str, Any]]:
        raise AssertionError("a paged source is read through read_pages")

    def read_pages(self, stream: Stream, since: str | None) -> Iterator[Any]:
        for item in self.items:
            self.handed += 1
            yield item

    def close(self) -> None:
        pass


def _page(start: int, n: int, extra: bool = False) -> pa.RecordBatch:
    data: dict[str, Any] = {"source_event_id": [f"e{i}" for i in range(start, start + n)]}
    if extra:
        data["type"] = ["x"] * n
    return pa.RecordBatch.from_pydict(data)


def _ids(chunk: Any) -> list[str]:
    if isinstance(chunk, pa.Table):
        return [str(v) for v in chunk.column("source_event_id").to_pylist()]
    return [str(r["source_event_id"]) for r in chunk]


def test_pages_are_gathered_into_bounded_tables_in_stream_order(monkeypatch: Any) -> None:
    monkeypatch.setattr(pull_reader, "PAGE_ROWS", 100)
    items: list[Any] = [_page(0, 40), _page(40, 40), _page(80, 40), _page(120, 40)]
    items += [{"source_event_id": "r1"}, {"source_event_id": "r2"}]
    items += [_page(160, 10, extra=True), _page(170, 10)]  # a new schema starts a new table
    source = _Paged(items)
    assert isinstance(source, PagedSource)
    chunks, handed = [], []
    for chunk in StreamReader(source, STREAM, None).chunks():
        chunks.append(chunk)
        handed.append(source.handed)
        rows = chunk.num_rows if isinstance(chunk, pa.Table) else len(chunk)
        assert rows <= 100 + 40  # a chunk never outgrows the bound by more than one page
    assert handed[0] == 3  # the stream is consumed as it goes, never read whole first
    seen = [i for c in chunks for i in _ids(c)]
    assert seen == [f"e{i}" for i in range(160)] + ["r1", "r2"] + [f"e{i}" for i in range(160, 180)]
    kinds = [type(c).__name__ for c in chunks]
    assert kinds == ["Table", "Table", "list", "Table", "Table"]
