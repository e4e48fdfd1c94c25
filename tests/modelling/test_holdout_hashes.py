"""The control-group and cluster-sample hashes are the values the per-key Python-int code gave
(changing one would move every control group and cluster sample after an upgrade)."""

from __future__ import annotations

import hashlib

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from connector.modelling.holdout import profile_hashes, stable_unit


def _reference(keys: list[str], salt: str) -> list[int]:
    prefix = salt.encode() + b"\x1f"
    return [
        int.from_bytes(hashlib.blake2b(prefix + k.encode(), digest_size=8).digest(), "big")
        for k in keys
    ]


@given(st.lists(st.text(max_size=12), max_size=60), st.text(max_size=8))
def test_the_hashes_are_the_per_key_values(keys: list[str], salt: str) -> None:
    expected = _reference(keys, salt)
    got = profile_hashes(keys, salt)
    assert got.dtype == np.uint64
    assert got.tolist() == expected
    units = stable_unit(keys, salt)
    want = np.asarray(expected, dtype=np.float64) / 2.0**64
    assert units.dtype == np.float64
    assert units.view(np.int64).tolist() == want.view(np.int64).tolist()


def test_keys_above_two_to_the_63_round_as_python_does() -> None:
    keys = [f"k{i}" for i in range(5000)]
    big = [k for k, v in zip(keys, _reference(keys, "s"), strict=True) if v >= 2**63]
    assert big  # half of them, roughly
    assert stable_unit(big, "s").tolist() == [v / 2.0**64 for v in _reference(big, "s")]
