"""What a marketer asks of a run, gathered as aggregates: sizes over time, lift over time, where
each audience went with its match rate, and who can be reached per channel after consent.

Only counts, sums and platform list/audience ids leave this module; never a person.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import duckdb
import pandas as pd

from connector.modelling.holdout import segment_lift
from connector.state.kv import PluginStateStore
from connector.state.runs import RunRow
from connector.sync.mirror_file import LEDGER_COPY, KeptLedger
from connector.workspace import Workspace

__all__ = ["AudienceRow", "History", "LiftSeries", "ReachRow", "gather_history", "parse_time"]

_LIFT_POINTS = 12


@dataclass(frozen=True, slots=True)
class AudienceRow:
    destination: str
    segment: str
    where: str  # the platform's list or audience id, "" when it keeps none (files, Segment)
    members: int  # memberships we delivered and the platform acknowledged
    match_rate: float | None


@dataclass(frozen=True, slots=True)
class ReachRow:
    segment: str
    members: int  # treated members (the control group is never activated)
    email: int  # of them, with an email marketing grant
    ads: int  # with an ads personalisation grant


@dataclass(slots=True)
class LiftSeries:
    segment: str
    points: list[tuple[datetime, float, float, float]] = field(default_factory=list)
    note: str = ""  # why there is no chart ("not enough data yet")


@dataclass(slots=True)
class History:
    currency: str = ""
    sizes: dict[str, list[tuple[datetime, float]]] = field(default_factory=dict)
    lift: list[LiftSeries] = field(default_factory=list)
    audiences: list[AudienceRow] = field(default_factory=list)
    reach: list[ReachRow] = field(default_factory=list)


def parse_time(text: str | None) -> datetime | None:
    try:
        return datetime.fromisoformat(text).replace(tzinfo=None) if text else None
    except ValueError:
        return None


def _currency(con: duckdb.DuckDBPyConnection) -> str:
    try:
        row = con.execute(
            """SELECT currency FROM events WHERE type = 'order_completed' AND currency IS NOT NULL
               GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 1"""
        ).fetchone()
    except duckdb.Error:
        return ""
    return str(row[0]).upper() if row else ""


def _sizes(runs: list[RunRow]) -> dict[str, list[tuple[datetime, float]]]:
    """Members per segment (by name) at every run that modelled, oldest first."""
    out: dict[str, list[tuple[datetime, float]]] = {}
    for run in reversed(runs):
        model = run.stages.get("model") or {}
        at = parse_time(run.started_at)
        sizes, names = model.get("segments") or {}, model.get("names") or {}
        if at is None or not isinstance(sizes, dict):
            continue
        for sid, size in sizes.items():
            out.setdefault(str(names.get(sid, sid)), []).append((at, float(size)))
    return out


def _orders_since(con: duckdb.DuckDBPyConnection, start: datetime) -> bool:
    """Whether any order happened from ``start`` on (the scan stops at the first one)."""
    found = con.execute(
        "SELECT 1 FROM events WHERE type = 'order_completed' AND occurred_at >= $1 LIMIT 1",
        [start],
    ).fetchone()
    return found is not None


def _lift(
    con: duckdb.DuckDBPyConnection, runs: list[RunRow], names: dict[str, str]
) -> list[LiftSeries]:
    """Revenue per profile, treated minus control, measured at each run since activation.

    One segment's activations are read at a time, and only when it has a window to measure
    (the whole table, millions of rows at a million profiles, held in pandas for the report)."""
    try:
        starts = con.execute(
            "SELECT segment_id, min(activated_at) FROM activations GROUP BY 1 ORDER BY 1"
        ).fetchall()
    except duckdb.Error:
        return []
    ends = sorted({t for r in runs if (t := parse_time(r.ended_at)) is not None})
    out = []
    for sid, first in starts:
        series = LiftSeries(names.get(str(sid), str(sid)))
        start = pd.Timestamp(first).to_pydatetime()
        windows = [t for t in ends if t > start][-_LIFT_POINTS:]
        if windows and not _orders_since(con, start):
            windows = []  # no order at all since activation: every window would measure none
        members = con.execute(
            "SELECT profile_id, segment_id, holdout FROM activations WHERE segment_id = ?"
            + ("" if windows else " LIMIT 0"),
            [sid],
        ).df()
        for until in windows:
            res: dict[str, Any] = segment_lift(
                con, members, str(sid), activated_at=start, until=until
            )
            converted = res["treated"]["conversion_rate"] + res["control"]["conversion_rate"]
            if not converted or not res["control"]["profiles"]:
                continue
            rev = res["lift"]["revenue"]
            series.points.append((until, rev["difference"], rev["ci_low"], rev["ci_high"]))
        if len(series.points) < 2:
            series.points = []
            series.note = "not enough data yet: no orders since activation to compare"
        out.append(series)
    return out


def _audiences(ws: Workspace, runs: list[RunRow], names: dict[str, str]) -> list[AudienceRow]:
    rates: dict[tuple[str, str], float] = {}
    for run in reversed(runs):  # the latest rate reported wins
        for dest, entry in (run.stages.get("apply") or {}).items():
            found = entry.get("match_rates") if isinstance(entry, dict) else None
            for sid, rate in (found if isinstance(found, dict) else {}).items():
                rates[(str(dest), str(sid))] = float(rate)
    out = []
    for dest, cfg in ws.config.destinations.items():
        # the workspace's ledger copy counts them (the store's count scans every row)
        delivered = KeptLedger(ws.ledger, ws.path / LEDGER_COPY).delivered_per_segment(dest)
        state = PluginStateStore(ws.state, f"destinations.{dest}").items()
        configured = getattr(cfg.settings, "user_lists", None) or {}
        for sid in sorted(set(delivered) | {k for d, k in rates if d == dest}):
            where = next(
                (v for k, v in state.items() if k in (f"list:{sid}", f"audience:{sid}") and v),
                str(configured.get(sid, "")),
            )
            rate = rates.get((dest, sid))
            out.append(AudienceRow(dest, names.get(sid, sid), where, delivered.get(sid, 0), rate))
    return out


def _reach(con: duckdb.DuckDBPyConnection, names: dict[str, str]) -> list[ReachRow]:
    try:
        rows = con.execute(
            """SELECT m.segment_id, count(*),
                      count(*) FILTER (WHERE p.consent_email = 'granted'),
                      count(*) FILTER (WHERE p.consent_ads = 'granted')
               FROM memberships m JOIN profiles p USING (profile_id)
               WHERE NOT m.holdout GROUP BY 1 ORDER BY 1"""
        ).fetchall()
    except duckdb.Error:
        return []
    return [ReachRow(names.get(s, s), int(n), int(e), int(a)) for s, n, e, a in rows]


def gather_history(ws: Workspace, runs: list[RunRow], names: dict[str, str]) -> History:
    """Everything the marketer's sections show; ``runs`` newest first, up to this run."""
    con = ws.data.con
    return History(
        currency=_currency(con),
        sizes=_sizes(runs),
        lift=_lift(con, runs, names),
        audiences=_audiences(ws, runs, names),
        reach=_reach(con, names),
    )


def lift_range(series: list[LiftSeries]) -> tuple[float, float]:
    """One scale for every lift chart, always showing zero."""
    values = [v for s in series for p in s.points for v in p[1:]]
    lo, hi = min([0.0, *values]), max([0.0, *values])
    pad = (hi - lo) * 0.1 or 1.0
    return (math.floor(lo - pad), math.ceil(hi + pad))
