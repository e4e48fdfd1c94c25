"""Scores that moved by less than what a marketer can see are not sent again.

A model refitted on a little more data moves nearly everyone's scores a little: a probability
delivered as 0.43 comes out as 0.44 for one profile in several, and a plan that compared values
exactly re-sent those profiles on every run, so a run where 1 % of the profiles changed cost
nearly what a first run costs. A number whose trait states a ``precision`` (``TraitSpec``) keeps
the value last delivered while the new one, at that precision, is within one unit of it (0.01
for a probability, one currency unit for CLV); a move of two units or more is sent. The value at
the destination is therefore never more than one unit from the model's. ``sync.hold_small_moves
= false`` compares exactly. The delivered values come from the ledger (``numbers``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from connector.plugin.changes import TraitSpec

__all__ = ["number", "precisions", "settle"]


def precisions(specs: list[TraitSpec], *, hold_small_moves: bool = True) -> dict[str, int]:
    """Trait name → decimals, for the number traits that state one (none when disabled)."""
    if not hold_small_moves:
        return {}
    return {t.name: t.precision for t in specs if t.type == "number" and t.precision is not None}


def number(value: Any) -> bool:
    """A JSON number (a bool is not one)."""
    return isinstance(value, int | float) and not isinstance(value, bool)


def settle(
    values: Mapping[str, Any], delivered: str | None, precision: Mapping[str, int]
) -> Mapping[str, Any]:
    """``values`` with each number within one unit of its delivered value (``delivered``, the
    ledger's JSON) replaced by that value; ``values`` itself when nothing is replaced."""
    if not delivered or not precision:
        return values
    before: dict[str, Any] = json.loads(delivered)
    out: dict[str, Any] | None = None
    for name, digits in precision.items():
        new, old = values.get(name), before.get(name)
        if new == old or not (number(new) and number(old)):
            continue
        scale = 10**digits
        if abs(round(new * scale) - round(old * scale)) <= 1:
            out = dict(values) if out is None else out
            out[name] = old
    return values if out is None else out
