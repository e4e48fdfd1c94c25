"""``segments lift`` as a marketer reads it: the two groups side by side, then the lift with
its 95% interval, or "not enough data yet" where an interval would be zero-wide or meaningless
(no conversions in either group, or a control group too small to compare with)."""

from __future__ import annotations

from typing import Any

from rich.table import Table

from connector.cli.common import console, safe
from connector.cli.profile_card import money

__all__ = ["MIN_CONTROL", "enough_data", "print_lift"]

MIN_CONTROL = 2
"""Fewer control profiles than this cannot give an interval."""


def _conversions(group: dict[str, Any]) -> int:
    return round(float(group["profiles"]) * float(group["conversion_rate"]))


def enough_data(report: dict[str, Any]) -> str | None:
    """``None`` when the lift can be read, else why not (in words)."""
    treated, control = report["treated"], report["control"]
    if control["profiles"] < MIN_CONTROL:
        return f"the control group has {control['profiles']} profile(s)"
    if _conversions(treated) + _conversions(control) == 0:
        return "no conversions in either group since activation"
    return None


def _interval(lift: dict[str, Any], unit: str, fmt: Any) -> str:
    diff, low, high = lift["difference"], lift["ci_low"], lift["ci_high"]
    return f"{fmt(diff)}{unit} (95% interval {fmt(low)}{unit} to {fmt(high)}{unit})"


def print_lift(report: dict[str, Any], currency: str | None) -> None:
    groups = Table(title="Treated (activated) vs control (held back)")
    for col in ("group", "profiles", "converted", "conversion rate", "revenue per profile"):
        groups.add_column(col, justify="left" if col == "group" else "right")
    for name in ("treated", "control"):
        g = report[name]
        groups.add_row(
            name,
            str(g["profiles"]),
            str(_conversions(g)),
            f"{float(g['conversion_rate']):.1%}",
            safe(money(float(g["revenue_per_profile"]), currency)),
        )
    console.print(groups)
    why = enough_data(report)
    if why is not None:
        console.print(f"lift: not enough data yet ({safe(why)})", highlight=False)
        return
    lift = report["lift"]

    def points(value: float) -> str:
        return f"{value * 100:+.1f}"

    def cash(value: float) -> str:
        return ("+" if value >= 0 else "-") + money(abs(value), currency)

    console.print(
        "conversion lift: " + _interval(lift["conversion"], " pts", points), highlight=False
    )
    console.print(
        "revenue lift per profile: " + safe(_interval(lift["revenue"], "", cash)),
        highlight=False,
    )
