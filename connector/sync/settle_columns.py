"""``settle`` for every candidate upsert at once, from the desired state's columns.

After a refit most profiles' scores move by a unit of their precision, so nearly every
profile is a candidate whose delivered values ``settle`` keeps: at a million profiles, building
each one's trait dict, settling it and hashing it again cost 10 s of the plan. Here each number
trait is compared column-wise with the ledger's delivered numbers (the rule is ``settle``'s, a
test holds the two equal), and the settled rows are hashed together (``row_digests``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from connector.sync.desired_columns import DesiredColumns
from connector.sync.digests import rounded, row_digests
from connector.sync.settle import number
from connector.sync.traitvalues import DIGEST_JSON

__all__ = ["settled_digests"]


def settled_digests(
    cols: DesiredColumns,
    wanted: frozenset[str] | None,
    precision: Mapping[str, int],
    rows: Sequence[tuple[Any, ...]],
) -> tuple[list[str], dict[str, str]]:
    """Of the candidates ``rows`` (key, profile_id, delivered numbers, delivered digest): the
    keys whose settled values are what was delivered, and the others' settled digests. A row
    ``settle`` leaves unchanged is in neither."""
    if not rows or not precision:
        return [], {}
    at = [cols.position[pid] for _k, pid, _n, _p in rows]
    before: list[dict[str, Any]] = [json.loads(n) if n else {} for _k, _p, n, _d in rows]
    names = [k for k in cols.traits if wanted is None or k in wanted]
    changed = [False] * len(rows)
    frags: dict[str, list[str | None]] = {}
    for name in names:
        base = cols.fragment_column(name)
        column = [base[i] for i in at]
        digits = precision.get(name)
        if digits is not None:
            olds = [b.get(name) for b in before]
            head = DIGEST_JSON.encode(name) + ":"
            texts: dict[tuple[type, Any], str] = {}
            for j in _kept_rows(cols, name, at, olds, digits):
                old = olds[j]
                text = texts.get((type(old), old))
                if text is None:  # 1 and 1.0 are one key to a dict, two texts to JSON
                    text = texts[(type(old), old)] = head + DIGEST_JSON.encode(old)
                column[j] = text
                changed[j] = True
        frags[name] = column
    # ``settle`` also reads a precision trait the values lack: nothing to keep then
    picked = [j for j, c in enumerate(changed) if c]
    digests = row_digests({k: [v[j] for j in picked] for k, v in frags.items()}, len(picked))
    same: list[str] = []
    moved: dict[str, str] = {}
    for j, digest in zip(picked, digests, strict=True):
        key, _pid, _numbers, prev = rows[j]
        if digest == prev:
            same.append(key)
        else:
            moved[key] = digest
    return same, moved


def _kept_rows(
    cols: DesiredColumns, name: str, at: list[int], olds: list[Any], digits: int
) -> list[int]:
    """The rows whose cleaned value of ``name`` is within one unit of ``olds`` (``settle``'s
    rule), column-wise for a float column: ``round`` of a float and ``np.rint`` both round
    the same double half to even, and every number here is exact as a double (larger ones,
    rare, are compared by ``settle``'s own code)."""
    scale = 10**digits
    column = cols.traits[name]
    if not (isinstance(column, np.ndarray) and column.dtype.kind == "f"):
        return [
            j for j, new in enumerate(cols.cleaned_at(name, at)) if _within(new, olds[j], scale)
        ]
    new, finite = rounded(column[np.asarray(at, dtype=np.int64)].astype(np.float64), digits)
    old = np.array([o if number(o) else None for o in olds], dtype=np.float64)
    both = finite & np.isfinite(old)
    exact = 2.0**52 / scale  # below it, a whole number times ``scale`` is an exact double
    small = both & (np.abs(new) < exact) & (np.abs(old) < exact)
    near = np.abs(
        np.rint(np.where(small, new, 0) * scale) - np.rint(np.where(small, old, 0) * scale)
    )
    kept = small & (new != old) & (near <= 1)
    large = np.flatnonzero(both & ~small)
    if len(large):  # the rare large number: exactly as ``settle`` does it
        values = cols.cleaned_at(name, [at[j] for j in large.tolist()])
        for j, value in zip(large.tolist(), values, strict=True):
            kept[j] = _within(value, olds[j], scale)
    return np.flatnonzero(kept).tolist()


def _within(new: Any, old: Any, scale: int) -> bool:
    if new == old or not (number(new) and number(old)):
        return False
    return bool(abs(round(new * scale) - round(old * scale)) <= 1)
