"""The pull stage: read each source's streams from their cursors, validate, store, commit.

Per stream: lower bound = stored mark - lookback (inclusive); records are validated into the
canonical schema (bad ones quarantined with a reason, never stopping the stream), stored in
chunks, and the new mark (max of the stream's cursor field over valid records) is committed
only after everything was stored. A dry run stores but does not move cursors. A profile record
that says nothing the stored one does not (our own write echoed back as a modification, a file
re-read) is counted as ``unchanged`` and not stored again (``connector.store.unchanged``).

A source may hand over pages (Arrow record batches, ``PagedSource.read_pages``): event and
profile pages are validated and stored in bulk (``pull_pages``, ``pull_profiles``), with the
rows the bulk rules cannot decide taken record by record, so reasons and counts are the same
either way.

Isolation is deliberate at two levels: any exception while validating one record quarantines
that record (its type and a short message are the reason); any exception from a source's own
reading ends that stream only (recorded, cursor kept, the run exits 3), and one from building
the source ends that source only. A full disk is never isolated: it stops the run.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pyarrow as pa

from connector.config.models import SourceConfig
from connector.errors import ConnectorError, DiskFullError, SkippableError, describe
from connector.logs import redact
from connector.pipeline.accept import PullContext, accept_chunk
from connector.pipeline.pull_pages import accept_page
from connector.pipeline.pull_profiles import (
    ProfileChunk,
    store_profile_chunk,
    store_profile_records,
)
from connector.pipeline.pull_reader import StreamReader
from connector.pipeline.quarantine import Quarantine
from connector.pipeline.warnings import SAMPLES, capture_warnings
from connector.plugin.spec import Source, Stream
from connector.privacy.erase import suppression_check
from connector.runctl.crashpoints import crashpoint
from connector.schema.normalise import parse_timestamp, to_iso
from connector.schema.records import EventRecord, ProfileRecord
from connector.state.quarantine import QuarantineStore
from connector.store.diskfull import is_disk_full
from connector.store.events_in import EVENT_SCHEMA
from connector.workspace import Workspace

__all__ = ["PullResult", "pull_source"]

log = logging.getLogger(__name__)


@dataclass(slots=True)
class PullResult:
    pulled: int = 0
    new: int = 0
    unchanged: int = 0
    quarantined: int = 0
    already_quarantined: int = 0
    warnings: int = 0
    suppressed: int = 0
    failed: str | None = None
    streams: dict[str, dict[str, Any]] = field(default_factory=dict)


def _lower_bound(stream: Stream, mark: str | None, lookback: timedelta) -> str | None:
    if mark is None or stream.cursor == "none":
        return None
    if stream.cursor == "timestamp":
        try:
            return to_iso(parse_timestamp(mark) - lookback)
        except (OverflowError, SkippableError):  # a mark at the edge of the calendar
            return None
    return mark


def _trusted_mark(p: PullContext, stream: Stream, stored: str | None) -> str | None:
    """The stored mark, unless it lies in the future (written by an older version that trusted
    a record dated 9999): then the stream is re-read in full and the mark rebuilt."""
    if stored is None or stream.cursor != "timestamp":
        return stored
    try:
        future = parse_timestamp(stored) > p.horizon
    except (OverflowError, SkippableError):
        future = True
    if not future:
        return stored
    log.warning(
        "source %s stream %s: stored cursor %s is in the future; ignoring it and re-reading "
        "the stream in full to rebuild it",
        p.name,
        stream.name,
        stored,
    )
    return None


def pull_source(
    ws: Workspace,
    name: str,
    cfg: SourceConfig,
    *,
    run_id: str,
    dry_run: bool,
    progress: Callable[[int], None] | None = None,
) -> PullResult:
    result = PullResult()
    spec = ws.registry.get(cfg.plugin)
    if spec.source is None:
        result.failed = f"plugin {cfg.plugin} has no source"
        return result
    settings = ws.config.pull
    quarantine = Quarantine(
        ws.runs,
        QuarantineStore(ws.state),
        source=name,
        run_id=run_id,
        sample=settings.quarantine_sample,
        dry_run=dry_run,
    )
    horizon = datetime.now(UTC) + settings.future_tolerance
    p = PullContext(
        ws, name, cfg, run_id, dry_run, quarantine, horizon, progress, suppression_check(ws)
    )
    failures: list[str] = []
    source: Source | None = None
    try:
        source = spec.source(cfg.settings, ws.plugin_context("sources", name, run_id))
        for stream in source.streams():
            with capture_warnings() as warned:
                stats = _pull_stream(p, source, stream, result)
            if warned.count:  # the source's own, beside the records' (``accept._warned``)
                stats["warnings"] = stats.get("warnings", 0) + warned.count
                samples = [*stats.get("warning_samples", []), *warned.samples]
                stats["warning_samples"] = samples[: 2 * SAMPLES]
            result.warnings += stats.get("warnings", 0)
            result.streams[stream.name] = stats
            if stats.get("failed"):
                failures.append(f"stream {stream.name}: {stats['failed']}")
    except DiskFullError:
        raise
    except ConnectorError as exc:
        failures.append(str(exc))
    except MemoryError:
        raise
    except Exception as exc:  # isolation boundary: one source never stops the others
        if is_disk_full(exc):
            raise
        failures.append(describe(exc))
    finally:
        if source is not None:
            source.close()
    if failures:  # stored in the run's stage record and message: never a raw platform text
        result.failed = redact("; ".join(failures))
        log.error("source %s failed: %s", name, result.failed)
    return result


def _store(
    ws: Workspace, stream: Stream, good: list[Any] | pa.Table | ProfileChunk, run_id: str
) -> tuple[int, int]:
    """Store a chunk; returns (records new to the store, unchanged records skipped)."""
    if isinstance(good, ProfileChunk):
        return store_profile_chunk(ws, good, run_id)
    if stream.kind == "profiles":
        profiles: list[ProfileRecord] = good
        return store_profile_records(ws, profiles, run_id)
    if isinstance(good, pa.Table):
        return ws.data.upsert_event_table(good, run_id), 0
    events: list[EventRecord] = good
    return ws.data.upsert_events(events, run_id), 0


# validated event pages are stored together up to this many rows: each store joins its rows
# with the events already stored, so at 65k rows a page the join read the growing table 150
# times for 10M events (45 s); the stream's mark is committed only after its last store, so
# storing later changes nothing a crash could see
_EVENT_BATCH = 1_000_000


def _read_and_store(
    p: PullContext, stream: Stream, reader: StreamReader, stats: dict[str, Any], mark: Any
) -> Any:
    """Validate and store every chunk of the stream; returns the new mark."""
    n = 0
    held: list[pa.Table] = []

    def flush() -> None:
        if held:
            pages = [t.select(EVENT_SCHEMA.names) for t in held]
            both = pa.concat_tables(pages, promote_options="permissive")
            stats["new"] += p.ws.data.upsert_event_table(both, p.run_id)
            held.clear()

    for chunk in reader.chunks():
        size = chunk.num_rows if isinstance(chunk, pa.Table) else len(chunk)
        if isinstance(chunk, pa.Table):
            good, mark = accept_page(p, stream, chunk, n, stats, mark)
        else:
            good, mark = accept_chunk(p, stream, chunk, n, stats, mark)
        n += size
        if isinstance(good, pa.Table) and stream.kind != "profiles":
            held.append(good)
            if sum(t.num_rows for t in held) >= _EVENT_BATCH:
                flush()
        else:
            flush()  # in stream order: a later chunk's event replaces an earlier one's
            new, same = _store(p.ws, stream, good, p.run_id)
            stats["new"] += new
            stats["unchanged"] += same
        p.quarantine.flush()
        stats["pulled"] += size
        if p.progress:
            p.progress(size)
    flush()
    return mark


def _pull_stream(
    p: PullContext, source: Source, stream: Stream, result: PullResult
) -> dict[str, Any]:
    stored_mark = p.ws.cursors.get(p.name, stream.name)
    mark = _trusted_mark(p, stream, stored_mark)
    since = _lower_bound(stream, mark, p.cfg.lookback_for(stream.name, stream.lookback))
    new_mark = mark
    stats: dict[str, Any] = {"since": since, "pulled": 0, "new": 0, "suppressed": 0, "unchanged": 0}
    if mark != stored_mark:
        stats["cursor_reset"] = "the stored cursor was in the future: stream re-read in full"
    reader = StreamReader(source, stream, since)
    with p.ws.data.deferred_checkpoints():
        new_mark = _read_and_store(p, stream, reader, stats, new_mark)
    crashpoint("pull.after_store")
    if reader.failure is not None:
        stats["failed"] = reader.failure  # the cursor stays: the next run re-reads from it
    elif not p.dry_run and new_mark is not None and new_mark != stored_mark:
        p.ws.cursors.commit(p.name, stream.name, new_mark, p.run_id)
    counts = p.quarantine.counts(stream.name)
    stats.update(counts.as_dict())
    stats["reasons"] = {redact(k): v for k, v in counts.reasons.items()}
    result.pulled += stats["pulled"]
    result.new += stats["new"]
    result.suppressed += stats["suppressed"]
    result.unchanged += stats["unchanged"]
    result.quarantined += counts.quarantined
    result.already_quarantined += counts.already
    stats["mark"] = new_mark
    return stats
