"""The model stage's libraries imported in the background while a run pulls and unifies.

Importing scikit-learn and SciPy costs about 3 s of every run, and a run after a small change
models a few seconds after it starts; pull and unify mostly wait on DuckDB, which lets go of
the interpreter while it works, so a thread imports them meanwhile. Only third-party modules
that never import the connector: the main thread may wait on one of them (Python locks each
module while it is imported) but the two threads never wait on each other in a cycle.
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["WARMED", "warm_imports"]

WARMED = (
    "scipy.optimize",
    "scipy.stats",
    "sklearn.cluster",
    "sklearn.ensemble",
    "sklearn.linear_model",
    "sklearn.metrics",
)


def _load() -> None:
    for name in WARMED:
        try:
            importlib.import_module(name)
        except Exception:  # noqa: BLE001 - the model stage imports it again and says what broke
            return


@contextmanager
def warm_imports() -> Iterator[None]:
    """Import ``WARMED`` in a thread while the block runs; waited for at its end, so the thread
    never outlives the run (an interpreter shutting down mid-import is not a safe place)."""
    thread = threading.Thread(target=_load, name="warm-imports", daemon=True)
    thread.start()
    try:
        yield
    finally:
        thread.join()
