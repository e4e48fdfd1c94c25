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

from connector.sync.desired_columns import DesiredColumns
from connector.sync.digests import row_digests
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
            scale = 10**digits
            head = DIGEST_JSON.encode(name) + ":"
            for j, new in enumerate(cols.cleaned_at(name, at)):
                old = before[j].get(name)
                if new == old or not (number(new) and number(old)):
                    continue
                if abs(round(new * scale) - round(old * scale)) <= 1:
                    column[j] = head + DIGEST_JSON.encode(old)
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
