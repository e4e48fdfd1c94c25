"""What ``profiles explain`` says about a person in a marketer's words: churn risk as low,
medium or high, lifetime value in the shop's currency, the expected next order, the segments
(and whether the person is in a control group), and what was sent to which destination when."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import duckdb
from rich.table import Table

from connector.cli.common import console, safe

if TYPE_CHECKING:
    from connector.workspace import Workspace

__all__ = ["ProfileCard", "churn_words", "money", "print_card", "profile_card"]

_SYMBOLS = {"GBP": "£", "USD": "$", "EUR": "€", "JPY": "¥", "AUD": "A$", "CAD": "C$"}


def churn_words(risk: float) -> str:
    """Thirds of the probability, as Klaviyo's predictive panel shows churn risk."""
    return "low" if risk < 1 / 3 else "medium" if risk < 2 / 3 else "high"


def money(amount: float, currency: str | None) -> str:
    symbol = _SYMBOLS.get(currency or "")
    if symbol:
        return f"{symbol}{amount:,.2f}"
    return f"{amount:,.2f} {currency}" if currency else f"{amount:,.2f}"


@dataclass(slots=True)
class ProfileCard:
    scores: dict[str, Any] = field(default_factory=dict)
    currency: str | None = None
    horizon_days: int = 365
    churn_days: int = 90
    segments: list[tuple[str, str, bool]] = field(default_factory=list)
    """(segment id, name, in the control group)."""
    sent: list[tuple[str, str, str, str]] = field(default_factory=list)
    """(destination, what, when, run id)."""
    held_traits: list[str] = field(default_factory=list)
    """Forecasts the last model run held back (data insufficient), and why."""
    held_reasons: list[str] = field(default_factory=list)
    held_segments: set[str] = field(default_factory=set)


def _rows(con: Any, sql: str, args: list[Any]) -> list[tuple[Any, ...]]:
    try:
        return [tuple(r) for r in con.execute(sql, args).fetchall()]
    except duckdb.CatalogException:  # before the first model run the table is absent
        return []


def profile_card(ws: Workspace, profile_id: str) -> ProfileCard:
    con = ws.data.con
    core = ws.config.model.core
    card = ProfileCard(horizon_days=core.clv_horizon_days, churn_days=core.churn_horizon_days)
    found = _rows(con, "SELECT * FROM scores WHERE profile_id = ?", [profile_id])
    if found:
        names = [d[0] for d in con.execute("SELECT * FROM scores LIMIT 0").description]
        card.scores = dict(zip(names, found[0], strict=True))
    currency = _rows(
        con,
        "SELECT currency FROM events WHERE currency IS NOT NULL"
        " GROUP BY currency ORDER BY count(*) DESC LIMIT 1",
        [],
    )
    card.currency = str(currency[0][0]) if currency else None
    names_by_id = {e.segment_id: e.name for e in ws.catalogue.all()}
    card.segments = [
        (str(sid), names_by_id.get(str(sid), str(sid)), bool(holdout))
        for sid, holdout in _rows(
            con,
            "SELECT segment_id, holdout FROM memberships WHERE profile_id = ? ORDER BY 1",
            [profile_id],
        )
    ]
    _held(ws, card)
    for dest, kind, sid, when, run_id in ws.ledger.for_profile(profile_id):
        what = "traits" if kind == "trait" else f"list {names_by_id.get(sid or '', sid)}"
        card.sent.append((dest, what, when[:16].replace("T", " "), run_id or ""))
    return card


def _held(ws: Workspace, card: ProfileCard) -> None:
    """What the last run that modelled held back: the scores shown are then not the ones
    the destinations hold."""
    from connector.modelling.sufficiency import held_by_last_run

    last = held_by_last_run(ws.runs.recent_stages())
    card.held_traits = list(last.get("held_traits", []))
    card.held_reasons = list(last.get("reasons", []))
    card.held_segments = set(last.get("held_segments", []))


def _score_lines(card: ProfileCard) -> list[str]:
    lines = _score_lines_of(card)
    if card.held_traits:
        why = "; ".join(card.held_reasons) or "data insufficient"
        lines.insert(0, f"forecasts held, not pushed by the last run: {why}")
    return lines


def _score_lines_of(card: ProfileCard) -> list[str]:
    s = card.scores
    held = set(card.held_traits)

    def mark(trait: str) -> str:
        return " (held, not pushed)" if trait in held else ""

    lines = []
    if s.get("churn_risk") is not None:
        risk = float(s["churn_risk"])
        chance = f"{risk:.0%} chance of no order in {card.churn_days} days"
        lines.append(f"churn risk: {churn_words(risk)} ({chance}){mark('churn_risk')}")
    if s.get("clv") is not None:
        value = money(float(s["clv"]), card.currency)
        over = f"over the next {card.horizon_days} days"
        lines.append(f"predicted lifetime value: {value} {over}{mark('clv')}")
    if s.get("next_order_date"):
        lines.append(f"expected next order: around {s['next_order_date']}{mark('next_order_date')}")
    if s.get("p_purchase_30d") is not None:
        chance = f"{float(s['p_purchase_30d']):.0%}{mark('p_purchase_30d')}"
        lines.append(f"chance to order in the next 30 days: {chance}")
    if s.get("clv_tier"):
        lines.append(f"value tier: {s['clv_tier']}{mark('clv_tier')}")
    if s.get("rfm_tier"):
        lines.append(f"RFM tier: {s['rfm_tier']}")
    return lines


def print_card(card: ProfileCard) -> None:
    lines = _score_lines(card)
    if lines:
        console.print("[bold]scores[/bold]")
        for line in lines:
            console.print("  " + safe(line), highlight=False)
    else:
        console.print("scores: none yet (run the pipeline)", highlight=False)
    if card.segments:
        console.print("[bold]segments[/bold]")
        for sid, name, holdout in card.segments:
            held = "control group: kept back, not sent" if holdout else "activated"
            if sid in card.held_segments and not holdout:
                held = "held with the forecasts: not synced by the last run"
            console.print(f"  {safe(name)} ({safe(sid)}): {held}", highlight=False)
    if not card.sent:
        console.print("sent: nothing yet", highlight=False)
        return
    table = Table(title="Sent")
    for col in ("destination", "what", "when (UTC)", "run"):
        table.add_column(col)
    for row in card.sent:
        table.add_row(*map(safe, row))
    console.print(table)
