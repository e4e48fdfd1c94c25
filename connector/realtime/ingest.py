"""Store live events as the scheduled run's pull would, and find whose they are.

Each record is validated into the canonical schema (a bad one is quarantined with its reason
and counted, never stopping the stream; an invalid e-mail or phone left out of a kept record is
counted as a warning, as the pull stage counts it), events of people a privacy request erased
are dropped, and the rest are upserted into the data store's ``events`` by their source event
id, so the scheduled run reading the same spool later stores nothing twice. An event's person
is found in the identity graph by its identifiers (``connector.identity.lookup``); a person the
graph does not know yet gets a profile at the next scheduled run, which unifies new identities.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

import pandas as pd

from connector.errors import SkippableError
from connector.identity.lookup import profiles_by_keys
from connector.pipeline.quarantine import Quarantine
from connector.plugin.spec import SourceRecord
from connector.schema.records import EventRecord, validate_event
from connector.store.datastore import identity_keys
from connector.workspace import Workspace

__all__ = ["Ingested", "ingest"]


@dataclass(slots=True)
class Ingested:
    events: int = 0
    quarantined: int = 0
    warnings: int = 0  # identifiers left out of a kept record (an invalid e-mail or phone)
    suppressed: int = 0
    unresolved: int = 0
    touched: set[str] = field(default_factory=set)
    occurred: list[datetime] = field(default_factory=list)


def ingest(
    ws: Workspace,
    source: str,
    stream: str,
    records: Sequence[SourceRecord],
    run_id: str,
    quarantine: Quarantine,
    suppressed: Callable[[EventRecord], bool] | None,
) -> Ingested:
    out = Ingested()
    region = ws.config.identity.default_region
    valid: list[EventRecord] = []
    for raw in records:
        try:
            rec = _validate(raw, source, region)
        except SkippableError as exc:
            ref = str(raw.get("source_event_id") or raw.get("_cursor") or "?")
            quarantine.add(stream, str(exc), ref, raw)
            out.quarantined += 1
            continue
        if suppressed is not None and suppressed(rec):
            out.suppressed += 1
            continue
        out.warnings += len(rec.warnings)
        valid.append(rec)
    quarantine.flush()
    if not valid:
        return out
    ws.data.upsert_events(valid, run_id)
    out.events = len(valid)
    out.occurred = [r.occurred_at for r in valid]
    keys = {
        f"{r.source}:{r.source_event_id}": identity_keys(r.email, r.phone, r.ids) for r in valid
    }
    found = profiles_by_keys(ws.data, (k for ks in keys.values() for k in ks))
    owner = {eid: next((found[k] for k in ks if k in found), None) for eid, ks in keys.items()}
    resolved = {eid: pid for eid, pid in owner.items() if pid is not None}
    out.unresolved = len(owner) - len(resolved)
    if resolved:
        frame = pd.DataFrame({"event_id": list(resolved), "pid": list(resolved.values())})
        con = ws.data.con
        con.register("_stream_owner", frame)
        try:
            con.execute(
                "UPDATE events SET profile_id = o.pid FROM _stream_owner o "
                "WHERE events.event_id = o.event_id"
            )
        finally:
            con.unregister("_stream_owner")
        out.touched = set(resolved.values())
    return out


def _validate(raw: SourceRecord, source: str, region: str) -> EventRecord:
    """A source's own ``_invalid`` marker is quarantined as such, as the pull stage does."""
    if "_invalid" in raw:
        raise SkippableError(str(raw["_invalid"]))
    return validate_event(raw, source=source, region=region)
