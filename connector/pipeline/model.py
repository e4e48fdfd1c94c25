"""The model stage: compute features, scores and segments, and store them with the run.

The engine is chosen in config (``[model] engine``): the full engine, or RFM tiers.
The full engine's state (cluster centroids, catalogue, distributions for drift) is kept in the
state store between runs; a dry run reads it but never moves it forward.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, time

import duckdb
import pandas as pd
import pyarrow as pa

from connector.engine import model_backend
from connector.modelling.output import ModelOutput
from connector.modelling.realtime_rules import evaluate_realtime, segment_defs
from connector.modelling.settings import ModelSettings
from connector.modelling.sufficiency import held_segments
from connector.runctl.crashpoints import crashpoint
from connector.state.catalogue import CatalogueEntry
from connector.state.kv import PluginStateStore
from connector.state.schema import model_cards
from connector.workspace import Workspace

__all__ = ["cutoff_of", "run_model_stage", "write_table"]


def cutoff_of(ws: Workspace) -> datetime:
    """End of the configured ``model.as_of`` day (UTC), default today."""
    day = ws.config.model.as_of or datetime.now(UTC).date()
    return datetime.combine(day, time.max)


def _compute(ws: Workspace, state: PluginStateStore) -> tuple[ModelOutput, str | None]:
    cfg = ws.config.model
    if cfg.engine == "rfm":
        from connector.modelling.rfm import compute_rfm

        return compute_rfm(ws.data.con, as_of=cutoff_of(ws), settings=cfg.rfm), None
    from connector.modelling.delivery import run_full

    backend = model_backend(ws.config.engine, ws.path, ws.data.con)
    return run_full(
        ws.data.con,
        as_of=cutoff_of(ws),
        settings=cfg.core,
        previous=state.get("state"),
        backend=backend,
    )


def run_model_stage(ws: Workspace, *, run_id: str, dry_run: bool) -> ModelOutput:
    state = PluginStateStore(ws.state, "model")
    out, next_state = _compute(ws, state)
    con = ws.data.con
    _add_realtime(con, out, ws.config.model.core)
    # once every segment is known, window rules included: the lists built on held forecasts
    out.held_segments = held_segments(out.segments, out.held_traits)
    _drop_inactive(con, out)
    for table, frame in (
        ("features", out.features),
        ("scores", out.scores),
        ("memberships", out.memberships),
    ):
        write_table(con, table, frame)
    crashpoint("model.after_write")
    if dry_run:
        return out
    if next_state is not None:
        state.put("state", next_state)
    # first activation of each (segment, profile), treated or control: what lift is measured from
    # (the anti-join leaves the key lookups to the few new members: half the cost at 1M)
    # a held segment is not activated this run: its re-cut members are not what was delivered
    con.execute(
        """INSERT INTO activations
           SELECT segment_id, profile_id, holdout, ?, ? FROM memberships m
           WHERE NOT EXISTS (SELECT 1 FROM activations a
                             WHERE a.segment_id = m.segment_id AND a.profile_id = m.profile_id)
             AND m.segment_id NOT IN (SELECT unnest(?::VARCHAR[]))
           ON CONFLICT DO NOTHING""",
        [run_id, datetime.now(UTC).replace(tzinfo=None), sorted(out.held_segments)],
    )
    _store_cards(ws, run_id, out)
    sizes = out.memberships[~out.memberships["holdout"]].groupby("segment_id").size()
    holds = out.memberships[out.memberships["holdout"]].groupby("segment_id").size()
    entries = (
        CatalogueEntry(
            s.id,
            s.name,
            s.kind,
            s.description,
            s.definition,
            s.model_version,
            int(sizes.get(s.id, 0)),
            int(holds.get(s.id, 0)),
        )
        for s in out.segments
    )
    ws.catalogue.sync(entries, held=out.held_segments)  # a held list keeps what was delivered
    return out


def write_table(con: duckdb.DuckDBPyConnection, table: str, frame: pd.DataFrame) -> None:
    """Replace ``table`` with ``frame``, handed to DuckDB as Arrow where that keeps its types.

    DuckDB copies Arrow columns for less CPU than it scans pandas' (about 10% of the three tables'
    write at a million profiles); the table is the same. A categorical column (an ENUM from
    pandas, VARCHAR from Arrow) or an object column Arrow cannot type keeps the pandas scan.
    Writing only the changed rows was measured too: the diff join costs as much as the write.
    """
    data: pa.Table | pd.DataFrame = frame
    if not any(isinstance(t, pd.CategoricalDtype) for t in frame.dtypes):
        try:
            data = pa.Table.from_pandas(frame, preserve_index=False)
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            data = frame  # mixed Python objects in a column: DuckDB's pandas scan reads them
    con.register("model_frame", data)
    try:
        con.execute(f"CREATE OR REPLACE TABLE {table} AS SELECT * FROM model_frame")
    finally:
        con.unregister("model_frame")


def _add_realtime(
    con: duckdb.DuckDBPyConnection, out: ModelOutput, settings: ModelSettings
) -> None:
    """Real-time rule segments, by the query ``connector stream`` runs, with the same clock
    (now): a scheduled run after a stream session agrees with what the stream delivered."""
    defs = segment_defs(settings)
    if not defs:
        return
    now = datetime.now(UTC).replace(tzinfo=None)
    members, failures = evaluate_realtime(con, settings, now)
    if len(members):
        both = pd.concat([out.memberships, members], ignore_index=True)
        out.memberships = both.astype({"holdout": bool})
    out.segments = [*out.segments, *(d for d in defs if d.id not in failures)]
    out.rule_failures.update(failures)


def _drop_inactive(con: duckdb.DuckDBPyConnection, out: ModelOutput) -> None:
    """Profiles whose every source record is gone are neither scored nor segmented; their
    events may still give them a feature row, so they are dropped here, after the model."""
    gone = {str(r[0]) for r in con.execute("SELECT profile_id FROM inactive_profiles").fetchall()}
    if not gone:
        return
    out.features = _without(out.features, gone)
    out.scores = _without(out.scores, gone)
    out.memberships = _without(out.memberships, gone)


def _without(frame: pd.DataFrame, gone: set[str]) -> pd.DataFrame:
    if "profile_id" not in frame.columns:
        return frame
    return frame[~frame["profile_id"].astype(str).isin(gone)].reset_index(drop=True)


def _store_cards(ws: Workspace, run_id: str, out: ModelOutput) -> None:
    rows = []
    for card in out.model_cards:
        evaluation = card.get("evaluation") if isinstance(card.get("evaluation"), dict) else {}
        auc = evaluation.get("auc") if evaluation else None
        rows.append(
            {
                "run_id": run_id,
                "model": str(card.get("name", "model")),
                "card": json.dumps(card, default=str, sort_keys=True),
                "auc": float(auc) if isinstance(auc, int | float) else None,
            }
        )
    if rows:
        with ws.state.engine.begin() as conn:
            conn.execute(model_cards.insert(), rows)
