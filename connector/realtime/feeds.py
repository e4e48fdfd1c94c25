"""The live sources a stream tails, and the marks of how far each was processed.

A source takes part when its plugin's source implements ``LiveSource`` and names live streams
(the Segment webhook spool, event files). Marks live in the state store; a feed's mark moves
only when ``commit`` is called, after the ledger holds what those events changed.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass

from connector.errors import ConnectorError
from connector.logs import redact
from connector.plugin.spec import LiveSource, SourceRecord, Stream
from connector.state.kv import PluginStateStore
from connector.workspace import Workspace

__all__ = ["Feed", "open_feeds"]

log = logging.getLogger(__name__)
MAX_PER_POLL = 5_000  # records taken from one feed per look, so one feed cannot starve another


@dataclass(slots=True)
class Feed:
    source: str
    stream: Stream
    live: LiveSource
    marks: PluginStateStore
    committed: str | None = None
    read_to: str | None = None  # mark of the last record read (not yet committed)

    @property
    def key(self) -> str:
        return f"{self.source}/{self.stream.name}"

    def poll(self) -> Iterator[SourceRecord]:
        """Records after what was read so far, at most ``MAX_PER_POLL``."""
        taken = 0
        for record in self.live.tail(self.stream, self.read_to):
            mark = record.get("_cursor")
            if isinstance(mark, str):
                self.read_to = mark
            yield record
            taken += 1
            if taken >= MAX_PER_POLL:
                return

    def commit(self) -> None:
        if self.read_to != self.committed and self.read_to is not None:
            self.marks.put(self.key, self.read_to)
            self.committed = self.read_to


def open_feeds(ws: Workspace, run_id: str) -> list[Feed]:
    """One feed per live stream of every enabled source that has any."""
    marks = PluginStateStore(ws.state, "stream")
    feeds: list[Feed] = []
    for name, cfg in ws.config.sources.items():
        if not cfg.enabled:
            continue
        spec = ws.registry.get(cfg.plugin)
        if spec.source is None:
            continue
        try:
            source = spec.source(cfg.settings, ws.plugin_context("sources", name, run_id))
        except ConnectorError as exc:
            log.error("stream: source %s cannot be opened: %s", name, redact(str(exc)))
            continue
        if not isinstance(source, LiveSource) or not source.live_streams():
            source.close()
            continue
        for stream in source.live_streams():
            mark = marks.get(f"{name}/{stream.name}")
            feeds.append(Feed(name, stream, source, marks, mark, mark))
    return feeds
