"""The model stage: compute features, scores and segments, and store them with the run."""

from __future__ import annotations

from datetime import UTC, datetime, time

from connector.modelling.output import ModelOutput
from connector.modelling.rfm import compute_rfm
from connector.pipeline.workspace import Workspace
from connector.state.catalogue import CatalogueEntry
from connector.testing.faultpoints import faultpoint

__all__ = ["cutoff_of", "run_model_stage"]


def cutoff_of(ws: Workspace) -> datetime:
    """End of the configured ``model.as_of`` day (UTC), default today."""
    day = ws.config.model.as_of or datetime.now(UTC).date()
    return datetime.combine(day, time.max)


def run_model_stage(ws: Workspace, *, run_id: str, dry_run: bool) -> ModelOutput:
    out = compute_rfm(ws.data.con, as_of=cutoff_of(ws), settings=ws.config.model.rfm)
    con = ws.data.con
    for table, frame in (
        ("features", out.features),
        ("scores", out.scores),
        ("memberships", out.memberships),
    ):
        con.register("model_frame", frame)
        try:
            con.execute(f"CREATE OR REPLACE TABLE {table} AS SELECT * FROM model_frame")
        finally:
            con.unregister("model_frame")
    faultpoint("model.after_write")
    if not dry_run:
        sizes = out.memberships[~out.memberships["holdout"]].groupby("segment_id").size()
        holds = out.memberships[out.memberships["holdout"]].groupby("segment_id").size()
        ws.catalogue.sync(
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
    return out
