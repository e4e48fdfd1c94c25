"""Trait digests of every profile at once: the same texts ``traits_digest`` hashes, column-wise.

``traits_digest`` hashes the compact, key-sorted JSON of one profile's cleaned traits. Built
profile by profile (a dict, ``_clean`` per value, an encoder call, a hash) it cost 25 s of a
million-profile plan, for values that repeat: probabilities rounded to two decimals take a
hundred values, tiers three. Here each trait column becomes its JSON fragment (``"name":value``)
per row, with each distinct value cleaned and encoded once, and DuckDB joins the fragments in
key order and hashes them. The text is the one ``traits_digest`` would hash (a test holds the
two equal on random values), so a delivered profile is never re-sent because of how its digest
was computed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from connector.sync.traitvalues import DIGEST_JSON, clean, traits_digest

__all__ = ["fragments", "rounded", "row_digests"]


def rounded(values: np.ndarray, digits: int | None) -> tuple[np.ndarray, np.ndarray]:
    """``round`` as ``clean`` does it, and which values are finite. ``np.round`` (scale, round
    half even, unscale) equals Python's correctly rounded ``round`` except where the scaled
    value lies next to a half; those few are rounded by Python itself."""
    places = 6 if digits is None else digits
    finite = np.isfinite(values)
    # past 1e300 scaling overflows; those (and any that lie far from ordinary magnitudes) are
    # rounded by Python below
    safe = np.where(finite & (np.abs(values) < 1e300), values, 0.0)
    scaled = safe * 10.0**places
    near_half = (np.abs(np.abs(scaled - np.floor(scaled)) - 0.5) < 1e-6) | (np.abs(scaled) > 1e9)
    huge = finite & (np.abs(values) >= 1e300)
    out = np.round(safe, places)
    for i in np.flatnonzero((near_half & finite) | huge):
        out[i] = round(float(values[i]), places)
    return out, finite


def _float_texts(values: np.ndarray, digits: int | None, key: str) -> list[str | None]:
    """Fragments of a float column, each distinct rounded value encoded once."""
    done, finite = rounded(values, digits)
    uniq, inverse = np.unique(done, return_inverse=True)
    texts = [_encode(key, float(u)) for u in uniq]
    return [
        texts[j] if ok else None for j, ok in zip(inverse.tolist(), finite.tolist(), strict=True)
    ]


def _encode(key: str, rounded: float) -> str:
    value: float | int = int(rounded) if rounded.is_integer() else rounded
    return key + DIGEST_JSON.encode(value)


def fragments(
    name: str, values: Sequence[Any] | np.ndarray, digits: int | None
) -> list[str | None]:
    """Per row, ``"name":value`` as the digest's JSON spells it, or None for no value."""
    key = DIGEST_JSON.encode(name) + ":"
    if isinstance(values, np.ndarray) and values.dtype.kind == "f":
        return _float_texts(values.astype(np.float64, copy=False), digits, key)
    seen: dict[Any, str | None] = {}
    out: list[str | None] = []
    for value in values.tolist() if isinstance(values, np.ndarray) else values:
        try:
            text = seen[value]
        except (KeyError, TypeError):
            cleaned = clean(value, digits)
            text = None if cleaned is None else key + DIGEST_JSON.encode(cleaned)
            try:
                seen[value] = text
            except TypeError:  # an unhashable value: encoded each time
                pass
        out.append(text)
    return out


# printable ASCII but for the quote and the backslash: JSON spells such text as it is
_PLAIN = r"^[\x20\x21\x23-\x5b\x5d-\x7e]*$"


def text_fragments(name: str, values: pa.Array) -> list[str | None]:
    """``fragments`` of a text column, built in Arrow: plain text (nearly every e-mail) is
    quoted as it is; the rest, and only it, goes through the JSON encoder (2 s of Python at a
    million addresses, against a fraction in Arrow)."""
    key = DIGEST_JSON.encode(name) + ':"'
    quoted = pc.binary_join_element_wise(pa.scalar(key), values, pa.scalar('"'), "")
    plain = pc.fill_null(pc.match_substring_regex(values, _PLAIN), True)
    out: list[str | None] = quoted.to_pylist()
    for i in np.flatnonzero(~plain.to_numpy(zero_copy_only=False)).tolist():
        out[i] = key[:-1] + DIGEST_JSON.encode(values[i].as_py())
    return out


def row_digests(columns: Mapping[str, Sequence[str | None] | np.ndarray], rows: int) -> list[str]:
    """Each row's digest from its fragments (``columns`` by trait name): ``traits_digest`` of
    the row's traits.

    Hashed on a cursor of DuckDB's default in-memory database: opening a database per call
    cost about 45 ms, more than hashing a small plan's rows; a cursor costs next to nothing
    and is a connection of its own, so threads do not share registrations. Not the planning
    database: that one takes its spill directory and memory limit when it is first opened,
    and a digest may be asked for before any plan."""
    names = sorted(columns)
    if not names:
        return [traits_digest({})] * rows
    table = pa.table({f"c{i}": pa.array(columns[n], pa.string()) for i, n in enumerate(names)})
    parts = ", ".join(f"c{i}" for i in range(len(names)))
    con = duckdb.default_connection().cursor()
    try:
        con.register("frags", table)
        found = con.sql(
            f"SELECT left(sha256('{{' || concat_ws(',', {parts}) || '}}'), 32) AS d FROM frags"
        ).to_arrow_table()
    finally:
        con.close()
    return [str(d) for d in found.column("d").to_pylist()]
