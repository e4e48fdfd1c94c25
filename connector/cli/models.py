"""`connector models show`, `connector segments` and `connector segments lift`."""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import UTC, date, datetime
from typing import Annotated, Any

import typer
from rich.table import Table

from connector.cli.common import ConfigOpt, console, handle_errors, load, safe
from connector.cli.options import OutputOpt, print_json
from connector.errors import ConfigError

__all__ = ["models_app", "segments_app"]

models_app = typer.Typer(help="Model cards of the scoring models.", no_args_is_help=True)
segments_app = typer.Typer(
    help="The segment catalogue, and lift of activated segments.", invoke_without_command=True
)

_METRICS = ("auc", "pr_auc", "brier", "top_decile_lift", "positives", "negatives")


@models_app.command("show")
@handle_errors
def show(
    run_id: Annotated[
        str | None, typer.Argument(help="Run id (default: the latest with cards).")
    ] = None,
    config: ConfigOpt = None,
    output: OutputOpt = "table",
) -> None:
    """AUC, PR-AUC, Brier, top-decile lift, calibration, training window and features per model."""
    from sqlalchemy import select

    from connector.state.schema import model_cards
    from connector.workspace import Workspace

    ws = Workspace(load(config, read_only=True))
    try:
        with ws.state.engine.connect() as conn:
            runs = [r[0] for r in conn.execute(select(model_cards.c.run_id).distinct())]
            if not runs:
                raise ConfigError(
                    'no model cards yet: run the pipeline with [model] engine = "full"'
                )
            chosen = run_id or max(runs)
            rows = conn.execute(select(model_cards).where(model_cards.c.run_id == chosen)).all()
    finally:
        ws.close()
    cards = [json.loads(row.card) for row in rows]
    if output == "json":
        print_json({"run_id": chosen, "cards": cards})
        return
    console.print(f"[bold]model cards of run {safe(chosen)}[/bold]")
    for card in cards:
        _print_card(card)


def _print_card(card: dict[str, Any]) -> None:
    console.print(
        f"\n[bold]{safe(card.get('name'))}[/bold]  {safe(card.get('method', ''))}  "
        f"version {safe(card.get('version', ''))}",
        highlight=False,
        soft_wrap=True,
    )
    if card.get("training_window"):
        console.print(f"training window: {safe(card['training_window'])}", highlight=False)
    evaluation = card.get("evaluation") or {}
    shown = {
        k: evaluation.get(k, card.get(k))
        for k in _METRICS
        if evaluation.get(k, card.get(k)) is not None
    }
    if shown:
        console.print(
            safe(
                "  ".join(
                    f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in shown.items()
                )
            ),
            highlight=False,
        )
    data = _sufficiency_line(card.get("sufficiency"))
    if data:
        console.print(safe(data), highlight=False, soft_wrap=True)
    for note in (card.get("evaluation_note"), card.get("fallback_reason")):
        if note:
            console.print(f"note: {safe(note)}", highlight=False, soft_wrap=True)
    blend = card.get("blend")
    if isinstance(blend, dict) and "hgb_share" in blend:
        tried = blend.get("backtest_auc") or {}
        aucs = ", ".join(f"{share}: {auc}" for share, auc in tried.items())
        console.print(
            safe(
                f"blend: boosting share {blend['hgb_share']}, chosen by "
                f"{blend.get('chosen_by', '?')}" + (f" (AUC by share {aucs})" if aucs else "")
            ),
            highlight=False,
            soft_wrap=True,
        )
    calibration = evaluation.get("calibration") or card.get("calibration")
    if isinstance(calibration, list) and calibration:
        table = Table(title="calibration")
        for col in calibration[0]:
            table.add_column(safe(col))
        for row in calibration:
            table.add_row(*(f"{v:.3f}" if isinstance(v, float) else safe(v) for v in row.values()))
        console.print(table)
    if card.get("features"):
        console.print(
            "features: " + safe(", ".join(map(str, card["features"]))),
            highlight=False,
            soft_wrap=True,
        )
    if card.get("parameters"):
        text = _parameters_text(card["parameters"])
        console.print(f"parameters: {safe(text)}", highlight=False, soft_wrap=True)


def _sufficiency_line(verdict: object) -> str | None:
    """The guard's verdict as a marketer reads it: may these forecasts be acted on, and why."""
    if not isinstance(verdict, dict) or "status" not in verdict:
        return None
    figures = (
        f"newest event {str(verdict.get('newest_event') or 'none')[:10]}"
        f" ({verdict.get('days_since_newest_event')} days before as_of; stale after "
        f"{verdict.get('stale_after_days')} days), {verdict.get('buyers')} buyers, "
        f"{verdict.get('recent_buyers')} bought recently"
    )
    if verdict["status"] == "sufficient":
        return f"data: sufficient ({figures})"
    pushed = "pushed anyway" if verdict.get("predictive_traits_pushed") else "held, not pushed"
    reasons = "; ".join(map(str, verdict.get("reasons") or []))
    return f"data: insufficient, predictive traits {pushed}: {reasons} ({figures})"


def _parameters_text(value: Any) -> str:
    """Fitted parameters to four significant digits: what a reader can use, and a float's
    fifteen digits would otherwise be masked as a phone number on the way out."""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, dict):
        return ", ".join(
            f"{k}: {{{_parameters_text(v)}}}"
            if isinstance(v, dict)
            else f"{k}={_parameters_text(v)}"
            for k, v in value.items()
        )
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_parameters_text(v) for v in value) + "]"
    return str(value)


@segments_app.callback()
@handle_errors
def segments(ctx: typer.Context, config: ConfigOpt = None, output: OutputOpt = "table") -> None:
    """List the segment catalogue: id, name, kind, size, holdout, first seen, last changed."""
    if ctx.invoked_subcommand is not None:
        return
    from connector.modelling.sufficiency import held_by_last_run
    from connector.workspace import Workspace

    ws = Workspace(load(config, read_only=True))
    try:
        entries = ws.catalogue.all()
        last = held_by_last_run(ws.runs.recent_stages())
    finally:
        ws.close()
    held = set(last.get("held_segments", ()))
    if output == "json":
        print_json([{**_as_json(asdict(e)), "held": e.segment_id in held} for e in entries])
        return
    table = Table(title="Segments")
    for col in (
        "id",
        "name",
        "kind",
        "size",
        "holdout",
        "version",
        "first seen",
        "last changed",
        "active",
    ):
        table.add_column(col)
    for e in entries:
        table.add_row(
            *map(
                safe,
                (
                    e.segment_id,
                    e.name,
                    e.kind,
                    e.size,
                    e.holdout_size,
                    e.version,
                    e.first_seen[:10],
                    e.last_changed[:10],
                    ("held" if e.segment_id in held else "yes") if e.active else "no",
                ),
            )
        )
    console.print(table)
    if held:
        why = "; ".join(last.get("reasons", [])) or "the forecasts were held"
        console.print(
            "held: the last run did not sync these lists, built on the forecasts it held "
            f"({safe(why)}); their sizes and definitions are what the destinations hold",
            highlight=False,
            soft_wrap=True,
        )
    for e in entries:
        if e.active and e.description:
            console.print(
                f"[bold]{safe(e.name)}[/bold]: {safe(e.description)}",
                highlight=False,
                soft_wrap=True,
            )


@segments_app.command("lift")
@handle_errors
def lift(
    segment_id: Annotated[str, typer.Argument(help="Segment id, e.g. tier-high or cluster-2.")],
    config: ConfigOpt = None,
    until: Annotated[
        str | None, typer.Option(help="End of the window (YYYY-MM-DD; default now).")
    ] = None,
    output: OutputOpt = "table",
) -> None:
    """Conversion rate and revenue per profile after activation, treated vs control, with 95% CI."""
    from connector.cli.lift import enough_data, print_lift
    from connector.cli.profile_card import profile_card
    from connector.modelling.holdout import segment_lift
    from connector.workspace import Workspace

    ws = Workspace(load(config, read_only=True))
    try:
        con = ws.data.con
        members = con.execute(
            "SELECT profile_id, segment_id, holdout, activated_at FROM activations"
            " WHERE segment_id = ?",
            [segment_id],
        ).df()
        if members.empty:
            raise ConfigError(
                f"segment {segment_id!r} was never activated (see `connector segments`)"
            )
        start = members["activated_at"].min().to_pydatetime()
        end = _until(until) if until else datetime.now(UTC).replace(tzinfo=None)
        if end <= start:
            raise ConfigError(
                f"--until {until}: the segment was first activated on {start:%Y-%m-%d}, so "
                "the window would end before it starts; give a later date"
            )
        report = segment_lift(con, members, segment_id, activated_at=start, until=end)
        currency = profile_card(ws, "").currency
        names = {e.segment_id: e.name for e in ws.catalogue.all()}
    finally:
        ws.close()
    if output == "json":
        print_json({**report, "enough_data": enough_data(report) is None})
        return
    title = names.get(segment_id, segment_id)
    console.print(
        f"[bold]{safe(title)}[/bold] ({safe(segment_id)}) from {start:%Y-%m-%d} to {end:%Y-%m-%d}"
    )
    print_lift(report, currency)


def _until(value: str) -> datetime:
    """``--until`` as midnight of that day."""
    try:
        day = date.fromisoformat(value)
    except ValueError:
        raise ConfigError(f"--until {value!r}: expected a date as YYYY-MM-DD") from None
    return datetime.combine(day, datetime.min.time())


def _as_json(entry: dict[str, Any]) -> dict[str, Any]:
    """A catalogue entry with its definition as an object: kept as text, its numbers (cluster
    centroids, z-scores) would be masked as phone numbers with the text's other strings."""
    definition = entry.get("definition")
    if isinstance(definition, str):
        try:
            entry["definition"] = json.loads(definition)
        except ValueError:
            pass
    return entry
