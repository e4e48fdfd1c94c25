"""Record-at-a-time acceptance: validate one raw record, quarantine it or keep it with its mark.

This is the definition of what a pull accepts; the bulk path (``pull_pages``) accepts only rows
whose outcome here is certain and hands every other row to these functions.
Isolation is deliberate: any exception while validating one record quarantines that record
(its type and a short message are the reason).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from connector.config.models import SourceConfig
from connector.errors import SkippableError, describe
from connector.pipeline.quarantine import Quarantine
from connector.pipeline.warnings import SAMPLES
from connector.plugin.spec import SourceRecord, Stream
from connector.schema.normalise import parse_timestamp, to_iso
from connector.schema.records import validate_event, validate_profile
from connector.workspace import Workspace

__all__ = ["PullContext", "accept_chunk", "accept_record", "record_ref"]


@dataclass(slots=True)
class PullContext:
    """What every stream of one source's pull shares."""

    ws: Workspace
    name: str
    cfg: SourceConfig
    run_id: str
    dry_run: bool
    quarantine: Quarantine
    horizon: datetime  # cursor timestamps later than this are from the future
    progress: Callable[[int], None] | None
    # people a privacy request erased: their records are dropped and counted, never stored
    suppressed: Callable[[Any], bool] | None = None


def _mark_of(stream: Stream, raw: SourceRecord) -> tuple[str | None, datetime | None]:
    value = raw.get(stream.cursor_field)
    if value is None or value == "" or stream.cursor == "none":
        return None, None
    if stream.cursor == "timestamp":
        at = parse_timestamp(value, field=stream.cursor_field)
        return to_iso(at), at
    return str(value), None


def _validate(validate: Callable[..., Any], raw: Any, name: str, region: str) -> Any:
    """Validate one raw record; a source's own ``_invalid`` marker is quarantined as such."""
    if isinstance(raw, dict) and "_invalid" in raw:
        raise SkippableError(str(raw["_invalid"]))
    return validate(raw, source=name, region=region)


def accept_record(p: PullContext, stream: Stream, raw: Any) -> tuple[Any, str | None]:
    """The validated record and its mark, or SkippableError (a mark from the future too)."""
    validate = validate_profile if stream.kind == "profiles" else validate_event
    rec = _validate(validate, raw, p.name, p.ws.config.identity.default_region)
    parsed = getattr(rec, stream.cursor_field, None) if stream.cursor == "timestamp" else None
    mark: str | None
    at: datetime | None
    if isinstance(parsed, datetime):  # validation parsed the same field: not parsed twice
        mark, at = to_iso(parsed), parsed
    else:
        mark, at = _mark_of(stream, raw)
    if at is not None and at > p.horizon:
        raise SkippableError(
            f"{stream.cursor_field} is a timestamp in the future "
            "(beyond pull.future_tolerance); it would hide every later record",
            field=stream.cursor_field,
        )
    return rec, mark


def record_ref(source: str, stream: Stream, raw: Any, n: int) -> str:
    key = "source_id" if stream.kind == "profiles" else "source_event_id"
    ident = raw.get(key) if isinstance(raw, dict) else None
    return f"{source}:{stream.name}:{ident if isinstance(ident, str | int) else f'#{n}'}"


def accept_chunk(
    p: PullContext,
    stream: Stream,
    chunk: list[Any],
    n: int,
    stats: dict[str, Any],
    mark: Any,
    kept: list[int] | None = None,
) -> tuple[list[Any], Any]:
    """Validate one chunk: bad records quarantined, suppressed people counted; the rest, and
    the highest cursor value seen, returned (``kept`` receives their positions in ``chunk``)."""
    good: list[Any] = []
    for i, raw in enumerate(chunk):
        n += 1
        try:
            rec, rec_mark = accept_record(p, stream, raw)
        except SkippableError as exc:
            p.quarantine.add(stream.name, exc.reason, record_ref(p.name, stream, raw, n), raw)
            continue
        except MemoryError:
            raise
        except Exception as exc:  # noqa: BLE001 - one poison record is quarantined, never fatal
            reason = f"record could not be validated ({describe(exc)})"
            p.quarantine.add(stream.name, reason, record_ref(p.name, stream, raw, n), raw)
            continue
        if p.suppressed is not None and p.suppressed(rec):
            stats["suppressed"] += 1  # an erased person: not even their record's reference
        else:
            if rec.warnings:  # a field left out, the record kept: counted with the source's
                _warned(stats, record_ref(p.name, stream, raw, n), rec.warnings)
            good.append(rec)
            if kept is not None:
                kept.append(i)
        if rec_mark is not None and (mark is None or rec_mark > mark):
            mark = rec_mark
    return good, mark


def _warned(stats: dict[str, Any], ref: str, reasons: tuple[str, ...]) -> None:
    """Count a record's warnings in its stream's stats, with a few samples (reference and
    reason: the value itself is never kept)."""
    stats["warnings"] = stats.get("warnings", 0) + len(reasons)
    samples = stats.setdefault("warning_samples", [])
    if len(samples) < SAMPLES:
        samples.append(f"{ref}: {'; '.join(reasons)}"[:200])
