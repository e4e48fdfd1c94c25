"""Real-time rule segments, evaluated in SQL over the data store for some or all profiles.

One function serves both callers, so they cannot disagree: ``connector stream`` evaluates the
profiles an event touched, the scheduled run's model stage evaluates everyone, both with the
wall clock as ``now`` (``connector.modelling.windows``). Each evaluation first refreshes the
targets' incremental state (``profile_activity``: counts and revenue in rolling windows,
recency, decayed engagement, category views), which rules may name as ``rt_*`` columns beside
every profile trait, feature and score of the latest scheduled run.

Control groups use the batch engine's hash (``connector.modelling.holdout``) keyed on the same
data-derived model keys, so a profile is in a real-time segment's control group in both.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from datetime import datetime

import duckdb
import pandas as pd

from connector.modelling.expr import ExpressionError
from connector.modelling.holdout import holdout_mask, profile_hashes
from connector.modelling.keys import model_keys
from connector.modelling.output import SegmentDef
from connector.modelling.settings import ModelSettings, RuleSegment
from connector.modelling.windows import compile_rule, parse_window_rule

__all__ = [
    "ACTIVITY_COLUMNS",
    "evaluate_realtime",
    "realtime_rules",
    "refresh_activity",
    "rule_columns",
    "segment_defs",
]

# the incremental state kept per profile, as rules name it
ACTIVITY_COLUMNS = {
    "rt_events_24h": "number",
    "rt_events_7d": "number",
    "rt_views_7d": "number",
    "rt_carts_24h": "number",
    "rt_orders_30d": "number",
    "rt_revenue_30d": "number",
    "rt_hours_since_event": "number",
    "rt_engagement": "number",
    "rt_top_category_7d": "text",
}
_ENGAGING = ("email_opened", "email_clicked", "page_viewed", "product_viewed", "added_to_cart")

_ACTIVITY_TABLE = """CREATE TABLE IF NOT EXISTS profile_activity (
    profile_id VARCHAR PRIMARY KEY, rt_events_24h BIGINT, rt_events_7d BIGINT,
    rt_views_7d BIGINT, rt_carts_24h BIGINT, rt_orders_30d BIGINT, rt_revenue_30d DOUBLE,
    rt_hours_since_event DOUBLE, rt_engagement DOUBLE, rt_top_category_7d VARCHAR,
    category_views_7d VARCHAR, updated_at TIMESTAMP)"""


def realtime_rules(settings: ModelSettings) -> list[RuleSegment]:
    return [r for r in settings.rule_segments if r.realtime]


def segment_defs(settings: ModelSettings) -> list[SegmentDef]:
    """The catalogue entries of the real-time rule segments."""
    return [
        SegmentDef(
            r.id,
            r.name,
            "rule",
            f"Profiles where {r.expression} (real-time).",
            json.dumps({"expression": r.expression, "realtime": True}, sort_keys=True),
            "realtime",
        )
        for r in realtime_rules(settings)
    ]


def _targets(profile_ids: Sequence[str] | None) -> str:
    if profile_ids is None:
        return "SELECT profile_id FROM profiles"
    return "SELECT p.profile_id FROM profiles p JOIN _rt_targets USING (profile_id)"


def refresh_activity(
    con: duckdb.DuckDBPyConnection,
    now: datetime,
    profile_ids: Sequence[str] | None,
    half_life_days: float,
) -> None:
    """Recompute the targets' incremental state from their events (exact, never drifting)."""
    con.execute(_ACTIVITY_TABLE)
    decay = math.log(2) / half_life_days / 86400.0
    engaging = ", ".join(f"'{t}'" for t in _ENGAGING)  # constants of this module
    con.execute(
        f"""INSERT OR REPLACE INTO profile_activity
        WITH t AS ({_targets(profile_ids)}),
        ev AS (SELECT e.profile_id, e.type, e.occurred_at, e.revenue,
                      json_extract_string(e.properties, '$.category') AS category,
                      date_diff('second', e.occurred_at, $now) AS age
               FROM events e JOIN t USING (profile_id)),
        cats AS (SELECT profile_id, category, count(*) AS n FROM ev
                 WHERE type = 'product_viewed' AND category IS NOT NULL AND age < 7 * 86400
                 GROUP BY 1, 2)
        SELECT t.profile_id,
            count(ev.type) FILTER (WHERE ev.age < 86400),
            count(ev.type) FILTER (WHERE ev.age < 7 * 86400),
            count(ev.type) FILTER (WHERE ev.age < 7 * 86400 AND ev.type = 'product_viewed'),
            count(ev.type) FILTER (WHERE ev.age < 86400 AND ev.type = 'added_to_cart'),
            count(ev.type) FILTER (WHERE ev.age < 30 * 86400 AND ev.type = 'order_completed'),
            coalesce(sum(ev.revenue) FILTER (WHERE ev.age < 30 * 86400
                                            AND ev.type = 'order_completed'), 0),
            min(ev.age) / 3600.0,
            coalesce(sum(exp(-$decay * greatest(ev.age, 0)))
                     FILTER (WHERE ev.type IN ({engaging})), 0),
            (SELECT c.category FROM cats c WHERE c.profile_id = t.profile_id
             ORDER BY c.n DESC, c.category LIMIT 1),
            (SELECT json_group_object(c.category, c.n) FROM cats c
             WHERE c.profile_id = t.profile_id),
            $now
        FROM t LEFT JOIN ev USING (profile_id) GROUP BY t.profile_id""",
        {"now": now, "decay": decay},
    )


def _has_table(con: duckdb.DuckDBPyConnection, name: str) -> bool:
    rows = con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_name = ?", [name]
    ).fetchall()
    return bool(rows[0][0])


def _columns_of(con: duckdb.DuckDBPyConnection, table: str) -> list[str]:
    return [str(r[0]) for r in con.execute(f"DESCRIBE {table}").fetchall()]


def rule_columns(con: duckdb.DuckDBPyConnection) -> tuple[dict[str, str], str]:
    """Names a real-time rule may use → their SQL column, and the joins that bring them: the
    profile's traits (never its consent), the latest run's features and scores, its activity."""
    names = {
        c: f't."{c}"'
        for c in _columns_of(con, "profiles")
        if not c.startswith("consent") and c != "created_at"
    }
    joins = []
    for alias, table in (("f", "features"), ("s", "scores")):
        if _has_table(con, table):
            joins.append(f"LEFT JOIN {table} {alias} ON {alias}.profile_id = t.profile_id")
            names.update(
                {c: f'{alias}."{c}"' for c in _columns_of(con, table) if c != "profile_id"}
            )
    joins.append("LEFT JOIN profile_activity a ON a.profile_id = t.profile_id")
    names.update({c: f'a."{c}"' for c in ACTIVITY_COLUMNS})
    return names, " ".join(joins)


def evaluate_realtime(
    con: duckdb.DuckDBPyConnection,
    settings: ModelSettings,
    now: datetime,
    profile_ids: Sequence[str] | None = None,
) -> tuple[pd.DataFrame, dict[str, str]]:
    """(profile_id, segment_id, holdout) of every real-time rule for the targets (None: every
    profile), and the rules that failed (id → reason: that segment is held, the others go on)."""
    rules = realtime_rules(settings)
    empty = pd.DataFrame(
        {"profile_id": pd.Series([], dtype=object), "segment_id": pd.Series([], dtype=object),
         "holdout": pd.Series([], dtype=bool)}
    )  # fmt: skip
    if not rules:
        return empty, {}
    if profile_ids is not None:
        con.register("_rt_targets", pd.DataFrame({"profile_id": list(profile_ids)}, dtype=str))
    try:
        refresh_activity(con, now, profile_ids, settings.engagement_half_life_days)
        columns, joins = rule_columns(con)
        if profile_ids is not None:
            joins += " JOIN _rt_targets r ON r.profile_id = t.profile_id"
        frames, failures = [], {}
        for rule in rules:
            try:
                compiled = compile_rule(parse_window_rule(rule.expression), columns, now)
                rows = con.execute(
                    f"SELECT t.profile_id FROM profiles t {joins} "
                    f"WHERE {compiled.sql} ORDER BY t.profile_id",
                    compiled.params,
                ).fetchall()
            except (ExpressionError, duckdb.Error) as exc:
                failures[rule.id] = f"rule segment {rule.id!r} ({rule.name}) failed: {exc}"
                continue
            frames.append(
                pd.DataFrame({"profile_id": [str(r[0]) for r in rows], "segment_id": rule.id})
            )
    finally:
        if profile_ids is not None:
            con.unregister("_rt_targets")
    members = pd.concat(frames, ignore_index=True) if frames else empty.drop(columns="holdout")
    if members.empty:
        return empty, failures
    keys = model_keys(con, members["profile_id"])
    hashes = profile_hashes(keys.tolist(), settings.holdout_salt)
    holdout = pd.Series(False, index=members.index)
    for seg_id, idx in members.groupby("segment_id").groups.items():
        holdout.loc[idx] = holdout_mask(
            hashes[members.index.get_indexer(idx)], str(seg_id), settings.holdout_share
        )
    return members.assign(holdout=holdout.astype(bool)), failures
