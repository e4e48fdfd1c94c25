"""Named crash points for crash-and-resume tests.

A test starts a run in a subprocess with ``CONNECTOR_CRASH_AT=<name>``; when the run reaches
that point the process dies at once (``os._exit``: no cleanup, no flush, like SIGKILL), so the
test can check that the next run resumes without loss or duplication.
"""

from __future__ import annotations

import os

__all__ = ["CRASH_POINTS", "faultpoint"]

CRASH_POINTS = ("pull.after_store", "model.after_write", "apply.after_ack", "apply.after_ledger")
_TARGET = os.environ.get("CONNECTOR_CRASH_AT", "")


def faultpoint(name: str) -> None:
    if _TARGET and _TARGET == name:
        os._exit(137)
