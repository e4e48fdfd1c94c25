"""Named crash points for crash-and-resume tests.

A test starts a run in a subprocess with ``CONNECTOR_CRASH_AT=<name>``; when the run reaches
that point the process dies at once (``os._exit``: no cleanup, no flush, like SIGKILL), so the
test can check that the next run resumes without loss or duplication.
"""

from __future__ import annotations

import os
import time

__all__ = ["CRASH_POINTS", "faultpoint", "pausepoint"]

CRASH_POINTS = ("pull.after_store", "model.after_write", "apply.after_ack", "apply.after_ledger")
_TARGET = os.environ.get("CONNECTOR_CRASH_AT", "")


def faultpoint(name: str) -> None:
    if _TARGET and _TARGET == name:
        os._exit(137)


_PAUSE_AT = os.environ.get("CONNECTOR_PAUSE_AT", "")
_paused: set[str] = set()


def pausepoint(name: str) -> None:
    """Hold a subprocess at a named point until the test lets it go (first time only).

    With ``CONNECTOR_PAUSE_AT=<name>`` and ``CONNECTOR_PAUSE_FILE=<path>``: on reaching the
    point, create ``<path>.reached`` and wait while ``<path>`` exists. Tests use it to hold a run
    inside the run lock, or between two batches, while they start a rival or send a signal.
    """
    if not _PAUSE_AT or _PAUSE_AT != name or name in _paused:
        return
    _paused.add(name)
    gate = os.environ.get("CONNECTOR_PAUSE_FILE", "")
    if not gate:
        return
    with open(gate + ".reached", "w") as fh:
        fh.write(str(os.getpid()))
    while os.path.exists(gate):
        time.sleep(0.02)
