"""Erasure inside a run: suppression at pull, erasing people through the normal plan, purge.

The path of one request (``connector forget`` records it; the next run, or ``--apply``, acts):
1. ``begin`` (after pull, before unify): the people whose identifiers match the request's
   hashes are found in the identity graph; all their identifiers join the suppression list
   (so a later pull by phone or source id is suppressed too) and they are marked erasing.
2. Unify treats them as inactive and the planner removes them from every list and audience
   through the ledger (and clears the traits delivered to them), with the ledger's usual
   pending/acknowledged rules, so a kill anywhere is finished by the next run.
3. ``finish`` (after apply): a destination is cleared when the ledger holds nothing for them
   there. Once every destination is, their rows go from the data store and the run errors, the
   ledger forgets them and the request completes. Until then the run retries, and ``forget
   --status`` shows which destinations are left.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, select

from connector.privacy.book import ErasureBook, ErasureRequest
from connector.privacy.keys import Hasher, load_key
from connector.runctl.crashpoints import crashpoint
from connector.schema.records import EventRecord, ProfileRecord
from connector.state.ledger_clock import new_epoch
from connector.state.schema import ledger, record_errors
from connector.store.datastore import identity_keys
from connector.store.purge import purge_profiles
from connector.sync.desired import traits_digest
from connector.sync.mirror_file import drop_copy
from connector.workspace import Workspace

__all__ = ["ErasureOutcome", "begin", "finish", "prune", "suppression_check"]

log = logging.getLogger(__name__)
_CLEARED_TRAITS = traits_digest({})


def record_keys(rec: ProfileRecord | EventRecord) -> list[str]:
    keys = identity_keys(rec.email, rec.phone, rec.ids)
    if isinstance(rec, ProfileRecord):
        keys.append(f"record:{rec.source}:{rec.source_id}")
    return keys


def suppression_check(ws: Workspace) -> Callable[[ProfileRecord | EventRecord], bool] | None:
    """A test for records naming a suppressed person, or None when nobody is suppressed."""
    suppressed = ErasureBook(ws.state).suppressed()
    if not suppressed:
        return None
    hasher = Hasher(load_key(ws.path))
    return lambda rec: any(hasher(k) in suppressed for k in record_keys(rec))


@dataclass(slots=True)
class ErasureOutcome:
    requests: int = 0
    completed: int = 0
    destinations_left: int = 0


def _graph_keys(ws: Workspace) -> list[tuple[str, str]]:
    """(identity key, profile id) for every key of the graph, source records included."""
    return [
        (str(k), str(p))
        for k, p in ws.data.con.execute(
            """SELECT id_key, profile_id FROM identity_map
               UNION ALL
               SELECT 'record:' || r.source || ':' || r.source_id, m.profile_id
               FROM profile_records r JOIN id_set_profile m USING (id_sig)"""
        ).fetchall()
    ]


def _retired_into(ws: Workspace, pids: set[str]) -> set[str]:
    """Retired profile ids merged into these people (the ledger may still name them)."""
    rows = ws.data.con.execute("SELECT profile_id, merged_into FROM retired_profiles").fetchall()
    return {str(old) for old, new in rows if new in pids}


def begin(ws: Workspace) -> ErasureOutcome:
    """Match open requests to people, suppress all their identifiers, mark them erasing."""
    book = ErasureBook(ws.state)
    open_requests = book.requests(open_only=True)
    out = ErasureOutcome(requests=len(open_requests))
    if not open_requests:
        return out
    hasher = Hasher(load_key(ws.path))
    graph = _graph_keys(ws)
    hashed = [(hasher(k), k, p) for k, p in graph]
    for req in open_requests:
        wanted = set(req.key_hashes)
        pids = {p for h, _k, p in hashed if h in wanted}
        pids |= _retired_into(ws, pids)
        if not pids and req.status == "erasing":
            continue  # already purged from the store, destinations still pending
        book.suppress(req.request_id, [h for h, _k, p in hashed if p in pids])
        crashpoint("erase.after_suppress")
        if pids:  # a request for someone the store does not hold matches nobody: it completes
            ws.data.con.executemany(
                "INSERT OR IGNORE INTO erasing_profiles VALUES (?, ?)",
                [[pid, req.request_id] for pid in sorted(pids)],
            )
        crashpoint("erase.after_mark")
        if req.status == "received":
            book.update(req.request_id, status="erasing", profiles=len(pids), destinations={})
            book.log(req.request_id, req.key_hashes[0], f"matched {len(pids)} profile(s)")
    return out


def prune(ws: Workspace, before: datetime) -> int:
    """Forget completed requests (and their suppressions) older than the retention."""
    return ErasureBook(ws.state).prune(before)


def _left(ws: Workspace, pids: list[str]) -> dict[str, int]:
    """Per destination, ledger rows still naming these people (cleared traits do not count)."""
    c = ledger.c
    left: dict[str, int] = {}
    with ws.state.engine.connect() as conn:
        rows = conn.execute(
            select(c.destination, c.kind, c.digest).where(c.profile_id.in_(pids))
        ).all()
    for dest, kind, digest in rows:
        if kind == "membership" or digest != _CLEARED_TRAITS:
            left[dest] = left.get(dest, 0) + 1
    return left


def finish(ws: Workspace) -> ErasureOutcome:
    """Complete the requests whose people every destination has removed."""
    book = ErasureBook(ws.state)
    out = ErasureOutcome()
    erasing = [r for r in book.requests(open_only=True) if r.status == "erasing"]
    by_request: dict[str, list[str]] = {}
    rows = ws.data.con.execute("SELECT profile_id, request_id FROM erasing_profiles").fetchall()
    for pid, rid in rows:
        by_request.setdefault(str(rid), []).append(str(pid))
    destinations = [n for n, cfg in ws.config.destinations.items() if cfg.enabled]
    for req in erasing:
        out.requests += 1
        pids = sorted(by_request.get(req.request_id, []))
        left = _left(ws, pids) if pids else {}
        status = {d: (f"{left[d]} left" if d in left else "cleared") for d in destinations}
        _log_cleared(book, req, status)
        book.update(req.request_id, status="erasing", profiles=req.profiles, destinations=status)
        if left:
            out.destinations_left += len(left)
            continue
        crashpoint("erase.before_purge")
        _erase_everywhere(ws, pids)
        crashpoint("erase.after_purge")
        book.log(req.request_id, req.key_hashes[0], "data store, ledger and run errors erased")
        book.update(
            req.request_id,
            status="completed",
            profiles=req.profiles,
            destinations=status,
            completed=True,
        )
        book.log(req.request_id, req.key_hashes[0], "completed")
        out.completed += 1
    return out


def _erase_everywhere(ws: Workspace, pids: list[str]) -> None:
    """Ledger and run errors first, then the data store, then the file rewritten: a kill at any
    step leaves the person still marked erasing (or already gone), and the next run's ``finish``
    repeats the steps left (each is idempotent), compaction included."""
    if pids:
        with ws.state.engine.begin() as conn:
            conn.execute(delete(ledger).where(ledger.c.profile_id.in_(pids)))
            new_epoch(conn)  # every planner's mirror copies afresh; no erased key is kept
            conn.execute(delete(record_errors).where(record_errors.c.profile_id.in_(pids)))
        drop_copy(ws.path)  # nor any row of theirs in the planner's copy of the ledger
        crashpoint("erase.after_ledger")
        purge_profiles(ws.data, pids)
        crashpoint("erase.after_store")
    ws.data.compact(copied=lambda: crashpoint("store.compact_copied"))


def _log_cleared(book: ErasureBook, req: ErasureRequest, status: dict[str, str]) -> None:
    for dest, state in sorted(status.items()):
        if state == "cleared" and req.destinations.get(dest) != "cleared":
            book.log(req.request_id, req.key_hashes[0], f"destination {dest} cleared")
