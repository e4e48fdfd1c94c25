"""The pull stage: read each source's streams from their cursors, validate, store, commit.

Per stream: lower bound = stored mark - lookback (inclusive); records are validated into the
canonical schema (bad ones quarantined with a reason, never stopping the stream), stored in
chunks, and the new mark (max of the stream's cursor field over valid records) is committed
only after everything was stored. A dry run stores but does not move cursors.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from itertools import islice
from typing import Any

from connector.config.models import SourceConfig
from connector.errors import ConnectorError, SkippableError
from connector.pipeline.workspace import Workspace
from connector.plugin.spec import Source, SourceRecord, Stream
from connector.schema.normalise import parse_timestamp, to_iso
from connector.schema.records import EventRecord, ProfileRecord, validate_event, validate_profile
from connector.state.runs import RecordError
from connector.testing.faultpoints import faultpoint

__all__ = ["PullResult", "pull_source"]

log = logging.getLogger(__name__)
CHUNK = 5_000


@dataclass(slots=True)
class PullResult:
    pulled: int = 0
    new: int = 0
    quarantined: int = 0
    errors: list[RecordError] = field(default_factory=list)
    failed: str | None = None
    streams: dict[str, dict[str, Any]] = field(default_factory=dict)


def _lower_bound(stream: Stream, mark: str | None, lookback: timedelta) -> str | None:
    if mark is None or stream.cursor == "none":
        return None
    if stream.cursor == "timestamp":
        return to_iso(parse_timestamp(mark) - lookback)
    return mark


def _mark_of(stream: Stream, raw: SourceRecord) -> str | None:
    value = raw.get(stream.cursor_field)
    if value is None or value == "" or stream.cursor == "none":
        return None
    if stream.cursor == "timestamp":
        return to_iso(parse_timestamp(value))
    return str(value)


def _validate(validate: Callable[..., Any], raw: Any, name: str, region: str) -> Any:
    """Validate one raw record; a source's own ``_invalid`` marker is quarantined as such."""
    if isinstance(raw, dict) and "_invalid" in raw:
        raise SkippableError(str(raw["_invalid"]))
    return validate(raw, source=name, region=region)


def _record_ref(source: str, stream: Stream, raw: Any, n: int) -> str:
    key = "source_id" if stream.kind == "profiles" else "source_event_id"
    ident = raw.get(key) if isinstance(raw, dict) else None
    return f"{source}:{stream.name}:{ident if isinstance(ident, str | int) else f'#{n}'}"


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
    region = ws.config.identity.default_region
    source: Source | None = None
    try:
        source = spec.source(cfg.settings, ws.plugin_context("sources", name, run_id))
        for stream in source.streams():
            stats = _pull_stream(
                ws, name, cfg, source, stream, region, run_id, dry_run, result, progress
            )
            result.streams[stream.name] = stats
    except ConnectorError as exc:
        result.failed = str(exc)
        log.error("source %s failed: %s", name, exc)
    finally:
        if source is not None:
            source.close()
    return result


def _pull_stream(
    ws: Workspace,
    name: str,
    cfg: SourceConfig,
    source: Source,
    stream: Stream,
    region: str,
    run_id: str,
    dry_run: bool,
    result: PullResult,
    progress: Callable[[int], None] | None,
) -> dict[str, Any]:
    mark = ws.cursors.get(name, stream.name)
    since = _lower_bound(stream, mark, cfg.lookback)
    new_mark = mark
    stats: dict[str, Any] = {"since": since, "pulled": 0, "new": 0, "quarantined": 0}
    validate = validate_profile if stream.kind == "profiles" else validate_event
    records: Iterator[SourceRecord] = iter(source.read(stream, since))
    n = 0
    while chunk := list(islice(records, CHUNK)):
        good: list[Any] = []
        for raw in chunk:
            n += 1
            try:
                rec = _validate(validate, raw, name, region)
                rec_mark = _mark_of(stream, raw)
            except SkippableError as exc:
                stats["quarantined"] += 1
                result.errors.append(
                    RecordError("pull", name, exc.reason, _record_ref(name, stream, raw, n))
                )
                continue
            good.append(rec)
            if rec_mark is not None and (new_mark is None or rec_mark > new_mark):
                new_mark = rec_mark
        if stream.kind == "profiles":
            profiles: list[ProfileRecord] = good
            stats["new"] += ws.data.upsert_profile_records(profiles, run_id)
        else:
            events: list[EventRecord] = good
            stats["new"] += ws.data.upsert_events(events, run_id)
        stats["pulled"] += len(chunk)
        if progress:
            progress(len(chunk))
    faultpoint("pull.after_store")
    if not dry_run and new_mark is not None and new_mark != mark:
        ws.cursors.commit(name, stream.name, new_mark, run_id)
    result.pulled += stats["pulled"]
    result.new += stats["new"]
    result.quarantined += stats["quarantined"]
    stats["mark"] = new_mark
    return stats
