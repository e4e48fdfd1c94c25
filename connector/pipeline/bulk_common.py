"""What the bulk validators of events and profiles share: certain text shapes, and Python
normalisers applied once per distinct value.

A value is decided in SQL only when its shape makes the record path's outcome certain; every
pattern here says which shape that is.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from connector.errors import SkippableError

__all__ = [
    "ASCII",
    "CLEAN",
    "EXPECTED",
    "KIND",
    "PLAIN_ID",
    "identity_sigs",
    "ids_sql",
    "is_text",
    "map_distinct",
    "match",
    "quote",
    "signatures",
]

KIND = r"[a-z][a-z0-9_]{0,39}"
# text that str.strip() leaves as it is: printable ASCII at both ends
CLEAN = r"(?s)[\x21-\x7e](?:.*[\x21-\x7e])?"
ASCII = r"[\x21-\x7e](?:[\x20-\x7e]*[\x21-\x7e])?"
# printable ASCII without '"' and '\\': its JSON text is itself
PLAIN_ID = r"[\x21\x23-\x5b\x5d-\x7e](?:[\x20\x21\x23-\x5b\x5d-\x7e]*[\x21\x23-\x5b\x5d-\x7e])?"
EXPECTED = (SkippableError, ValueError, TypeError, RecursionError, OverflowError)


def is_text(kind: pa.DataType) -> bool:
    if pa.types.is_dictionary(kind):
        kind = kind.value_type
    return bool(pa.types.is_string(kind) or pa.types.is_large_string(kind))


def match(pattern: str, text: str) -> bool:
    return re.fullmatch(pattern, text) is not None


def quote(name: str) -> str:
    """A SQL identifier for a column name."""
    return '"' + name.replace('"', '""') + '"'


def map_distinct(
    column: pa.ChunkedArray | pa.Array, normalise: Callable[[str], str | None]
) -> tuple[pa.Array, np.ndarray]:
    """Each value normalised once per distinct value; False where the normaliser refused."""
    uniq = pc.unique(column).drop_null()
    out: list[str | None] = []
    good: list[bool] = []
    for value in uniq.to_pylist():
        try:
            out.append(normalise(value))
            good.append(True)
        except EXPECTED:
            out.append(None)
            good.append(False)
    pos = pc.index_in(column, value_set=uniq)
    mapped = pc.take(pa.array(out, pa.string()), pos)
    ok = pc.take(pa.array(good, pa.bool_()), pos).fill_null(True)
    return mapped, ok.to_numpy(zero_copy_only=False)


def identity_sigs(email: pa.Array, phone: pa.Array, ids_keys: pa.Array) -> pa.Array:
    """``identity_signature`` of each row from its normalised e-mail, phone and ``ids_keys``
    (the ``ids_sql`` keys text): the same key text the record path signs."""
    keys = pc.binary_join_element_wise(
        pc.binary_join_element_wise("email:", email, ""),
        pc.binary_join_element_wise("phone:", phone, ""),
        ids_keys,
        "\x1f",
        null_handling="skip",
    )
    return signatures(keys)


def signatures(keys: pa.Array | pa.ChunkedArray) -> pa.Array:
    """``identity_signature`` of each row's identity keys, once per distinct keys text."""
    cache: dict[str, str] = {}
    out = []
    for text in keys.to_pylist():
        sig = cache.get(text)
        if sig is None:
            sig = hashlib.blake2b(text.encode(), digest_size=12).hexdigest()
            cache[text] = sig
        out.append(sig)
    return pa.array(out, pa.string())


def ids_sql(kinds: list[str]) -> tuple[str, str]:
    """SQL for the ids JSON text (``json.dumps(ids, sort_keys=True)``) and the identity keys
    text of columns ``i_<kind>`` holding ``PLAIN_ID`` values, ``kinds`` sorted."""
    if not kinds:
        return "'{}'", "NULL::VARCHAR"
    col = {k: quote("i_" + k) for k in kinds}
    parts = ", ".join(
        f"CASE WHEN {col[k]} IS NOT NULL THEN '\"{k}\": \"' || {col[k]} || '\"' END" for k in kinds
    )
    keys = ", ".join(f"'{k}:' || {col[k]}" for k in kinds)
    return f"'{{' || concat_ws(', ', {parts}) || '}}'", f"nullif(concat_ws(chr(31), {keys}), '')"
