"""``settle`` for every candidate upsert at once, from the desired state's columns.

After a refit most profiles' scores move by a unit of their precision, so nearly every
profile is a candidate whose delivered values ``settle`` keeps: at a million profiles, building
each one's trait dict, settling it and hashing it again cost 10 s of the plan. Here each number
trait is compared column-wise with the ledger's delivered numbers (the rule is ``settle``'s, a
test holds the two equal), and the settled rows are hashed together (``row_digests``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from connector.sync.desired_columns import ADDRESS, AddressMode, DesiredColumns
from connector.sync.digests import rounded, row_digests
from connector.sync.settle import number
from connector.sync.traitvalues import DIGEST_JSON

__all__ = ["settled_digests"]


def settled_digests(
    cols: DesiredColumns,
    wanted: frozenset[str] | None,
    precision: Mapping[str, int],
    candidates: pa.Table,
    *,
    address: AddressMode = "none",
) -> tuple[list[str], dict[str, str]]:
    """Of the ``candidates`` (columns ``key``, ``row_at``: the profile's row in ``cols``,
    ``numbers``: the delivered numbers, ``prev``: the delivered digest), read as Arrow: the
    keys whose settled values are what was delivered, and the others' settled digests. A row
    ``settle`` leaves unchanged is in neither."""
    n = candidates.num_rows
    if not n or not precision:
        return [], {}
    at = candidates.column("row_at").to_numpy().astype(np.int64)
    delivered = candidates.column("numbers").combine_chunks().cast(pa.string())
    names = [k for k in cols.traits if wanted is None or k in wanted]
    changed = np.zeros(n, dtype=bool)
    settled: dict[str, tuple[np.ndarray, list[str]]] = {}
    for name in names:
        digits = precision.get(name)
        if digits is None:
            continue
        olds = _Delivered(delivered, name)
        head = DIGEST_JSON.encode(name) + ":"
        kept = np.asarray(_kept_rows(cols, name, at, olds, digits), dtype=np.int64)
        settled[name] = (kept, [head + olds.text(j) for j in kept.tolist()])
        changed[kept] = True
    # ``settle`` also reads a precision trait the values lack: nothing to keep then
    picked = np.flatnonzero(changed)
    frags: dict[str, np.ndarray] = {}
    for name in names:
        column = np.asarray(cols.fragment_column(name), dtype=object)[at[picked]]
        if name in settled:
            kept, texts = settled[name]
            column[np.searchsorted(picked, kept)] = texts
        frags[name] = column
    if address != "none":  # the e-mail is compared as it is (``DesiredColumns.digests``)
        frags[ADDRESS] = np.asarray(cols.address_fragments(address), dtype=object)[at[picked]]
    digests = row_digests(frags, len(picked))
    at_picked = pa.array(picked, pa.int64())
    keys = candidates.column("key").take(at_picked).to_pylist()
    prevs = candidates.column("prev").take(at_picked).to_pylist()
    same: list[str] = []
    moved: dict[str, str] = {}
    for key, prev, digest in zip(keys, prevs, digests, strict=True):
        if digest == prev:
            same.append(key)
        else:
            moved[key] = digest
    return same, moved


def _kept_rows(
    cols: DesiredColumns, name: str, at: np.ndarray, olds: _Delivered, digits: int
) -> list[int]:
    """The rows whose cleaned value of ``name`` is within one unit of ``olds`` (``settle``'s
    rule), column-wise for a float column: ``round`` of a float and ``np.rint`` both round
    the same double half to even, and every number here is exact as a double (larger ones,
    rare, are compared by ``settle``'s own code)."""
    scale = 10**digits
    column = cols.traits[name]
    if not (isinstance(column, np.ndarray) and column.dtype.kind == "f"):
        news = cols.cleaned_at(name, at.tolist())
        return [j for j, new in enumerate(news) if _within(new, olds.value(j), scale)]
    new, finite = rounded(column[at].astype(np.float64), digits)
    old = olds.numbers()
    both = finite & np.isfinite(old)
    exact = 2.0**52 / scale  # below it, a whole number times ``scale`` is an exact double
    small = both & (np.abs(new) < exact) & (np.abs(old) < exact)
    near = np.abs(
        np.rint(np.where(small, new, 0) * scale) - np.rint(np.where(small, old, 0) * scale)
    )
    kept = small & (new != old) & (near <= 1)
    large = np.flatnonzero(both & ~small)
    if len(large):  # the rare large number: exactly as ``settle`` does it
        values = cols.cleaned_at(name, at[large].tolist())
        for j, value in zip(large.tolist(), values, strict=True):
            kept[j] = _within(value, olds.value(j), scale)
    return np.flatnonzero(kept).tolist()


class _Delivered:
    """One trait's delivered values in the candidates' ``numbers`` (the ledger's JSON): each
    value's text found column-wise, parsed only where a row needs it, and the text the digest
    gives it encoded once per distinct text."""

    def __init__(self, numbers: pa.Array, name: str) -> None:
        key = re.escape(json.dumps(name))
        found = pc.extract_regex(numbers, rf"[{{,]\s*{key}\s*:\s*(?P<v>[^,}}\s]+)")
        self.texts: list[str | None] = pc.struct_field(found, "v").to_pylist()
        self._parsed: dict[str, Any] = {}
        self._encoded: dict[str | None, str] = {}

    def value(self, j: int) -> Any:
        text = self.texts[j]
        if text is None:
            return None
        if text not in self._parsed:
            self._parsed[text] = json.loads(text)
        return self._parsed[text]

    def text(self, j: int) -> str:
        """``DIGEST_JSON``'s text of row ``j``'s value (a row ``_kept_rows`` kept has one)."""
        raw = self.texts[j]
        if raw not in self._encoded:
            self._encoded[raw] = DIGEST_JSON.encode(self.value(j))
        return self._encoded[raw]

    def numbers(self) -> np.ndarray:
        """Each value as a double (NaN: none, or no number)."""
        out = np.empty(len(self.texts), dtype=np.float64)
        seen: dict[str | None, float] = {}
        for j, text in enumerate(self.texts):
            got = seen.get(text)
            if got is None:
                old = self.value(j)
                got = seen[text] = float(old) if number(old) else np.nan
            out[j] = got
        return out


def _within(new: Any, old: Any, scale: int) -> bool:
    if new == old or not (number(new) and number(old)):
        return False
    return bool(abs(round(new * scale) - round(old * scale)) <= 1)
