"""Everything a run report shows, gathered from the stores as aggregates only (never PII).

Profiles appear only as counts and means: no ids, emails, phones or names. Error reasons are
already redacted when stored; they are grouped and masked once more here.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select

from connector.logs import redact
from connector.report.aggregates import Bins, profile_figures, score_bins
from connector.report.history import History, gather_history
from connector.state.catalogue import CatalogueEntry
from connector.state.runs import RunRow
from connector.state.schema import erasure_requests, model_cards
from connector.workspace import Workspace

__all__ = ["ReportData", "collect", "privacy_requests", "source_warnings"]

log = logging.getLogger(__name__)

_MAX_REQUESTS = 50


@dataclass(slots=True)
class ReportData:
    run: RunRow
    previous: RunRow | None
    segments: list[CatalogueEntry]
    profiles: int = 0
    profile_index: dict[str, dict[str, float]] = field(default_factory=dict)  # seg → feat → idx
    population_means: dict[str, float] = field(default_factory=dict)
    scores: dict[str, Bins] = field(default_factory=dict)  # score → its histogram
    model_cards: list[dict[str, Any]] = field(default_factory=list)
    errors: list[tuple[str, str, str, int]] = field(default_factory=list)
    warnings: list[tuple[str, str, int, str]] = field(default_factory=list)
    history: History = field(default_factory=History)
    # per privacy request: (request id, status, received, destinations cleared, pending)
    privacy: list[tuple[str, str, str, str, str]] = field(default_factory=list)


def collect(ws: Workspace, run: RunRow) -> ReportData:
    recent = ws.runs.recent(limit=200)
    ids = [r.run_id for r in recent]
    previous = None
    if run.run_id in ids:
        later = ids.index(run.run_id) + 1
        previous = next((r for r in recent[later:] if "model" in r.stages), None)
    data = ReportData(run, previous, [s for s in ws.catalogue.all() if s.active])
    con = ws.data.con
    data.profiles, data.population_means, data.profile_index = profile_figures(con)
    data.scores = score_bins(con)
    with ws.state.engine.connect() as conn:
        for row in conn.execute(
            select(model_cards.c.model, model_cards.c.card, model_cards.c.auc).where(
                model_cards.c.run_id == run.run_id
            )
        ):
            try:
                card = json.loads(row.card)
            except ValueError:
                card = {}
            # the full engine keeps held-out metrics (and calibration) under "evaluation"
            evaluation = card.get("evaluation") if isinstance(card.get("evaluation"), dict) else {}
            data.model_cards.append({"model": row.model, "auc": row.auc, **card, **evaluation})
    grouped = Counter(
        (e.stage, e.plugin, redact(e.reason)[:160]) for e in ws.runs.errors(run.run_id)
    )
    data.errors = [(s, p, r, n) for (s, p, r), n in grouped.most_common(20)]
    data.warnings = source_warnings(run)
    upto = recent[ids.index(run.run_id) :] if run.run_id in ids else [run]
    names = {s.segment_id: s.name for s in ws.catalogue.all()}
    data.history = gather_history(ws, upto, names)
    data.privacy = privacy_requests(ws)
    return data


def privacy_requests(ws: Workspace) -> list[tuple[str, str, str, str, str]]:
    """Each privacy request still on record (newest first), by request id only: the state
    keeps no identifier of the person, so none can reach the page. A destination is pending
    until the request's people are gone from it (and its privacy API, if on, accepted)."""
    c = erasure_requests.c
    query = (
        select(c.request_id, c.status, c.received_at, c.destinations)
        .order_by(c.received_at.desc(), c.request_id.desc())
        .limit(_MAX_REQUESTS)
    )
    out = []
    with ws.state.engine.connect() as conn:
        rows = conn.execute(query).all()
    configured = sorted(n for n, cfg in ws.config.destinations.items() if cfg.enabled)
    for rid, status, received, raw in rows:
        try:
            dests = json.loads(raw or "{}")
        except ValueError:
            dests = {}
        dests = dests if isinstance(dests, dict) else {}
        cleared = sorted(str(d) for d, state in dests.items() if state == "cleared")
        pending = [f"{d} ({dests[d]})" for d in sorted(dests) if dests[d] != "cleared"]
        if not dests and status != "completed":  # not yet planned: every destination waits
            pending = [f"{d} (not started)" for d in configured]
        out.append(
            (
                str(rid),
                str(status),
                str(received),
                ", ".join(cleared) or "none",
                ", ".join(pending) or "none",
            )
        )
    return out


def source_warnings(run: RunRow) -> list[tuple[str, str, int, str]]:
    """(source, stream, count, first samples) for every stream whose source warned."""
    out = []
    pull = run.stages.get("pull")
    for source, entry in (pull if isinstance(pull, dict) else {}).items():
        streams = entry.get("streams") if isinstance(entry, dict) else None
        for stream, stats in (streams if isinstance(streams, dict) else {}).items():
            if isinstance(stats, dict) and stats.get("warnings"):
                samples = "; ".join(redact(str(s)) for s in stats.get("warning_samples", []))
                out.append((str(source), str(stream), int(stats["warnings"]), samples))
    return out
