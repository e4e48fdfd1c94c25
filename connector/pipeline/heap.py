"""The heap a stage starts with, set aside from Python's full garbage collections.

Apply builds a few Python objects per change (changes, recipients, ledger rows) while the
plan's desired state (lists and maps over every profile) stays alive. The cyclic collector's
full passes walk every tracked object each time: on a first run at 200,000 profiles they cost
a quarter of apply (62 passes, 11.5 of 46 s), at a million more. Objects alive when the stage
starts are frozen (``gc.freeze``: left out of every pass, still freed by reference counting);
what the stage itself creates is collected as before. Unfrozen when the stage ends, so any
cycle among them is found by the next full pass.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["frozen_heap"]


@contextmanager
def frozen_heap() -> Iterator[None]:
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()
