"""Named crash points for crash-and-resume tests.

A test starts a run in a subprocess with ``CONNECTOR_CRASH_AT=<name>``; when the run reaches
that point the process dies at once (``os._exit``: no cleanup, no flush, like SIGKILL), so the
test can check that the next run resumes without loss or duplication. ``<name>@<n>`` dies the
n-th time the run reaches that point (e.g. ``apply.after_ack@3``: after the third acknowledged
batch), so a test can crash between any two batches, not only the first.
"""

from __future__ import annotations

import os
import time

__all__ = ["CRASH_POINTS", "crashpoint", "pausepoint"]

CRASH_POINTS = (
    "pull.after_store",
    "model.after_write",
    "apply.after_ack",
    "apply.after_ledger",
    # a privacy erasure (connector.privacy.erase)
    "erase.after_suppress",
    "erase.after_mark",
    "erase.before_purge",
    "erase.after_ledger",
    "erase.after_store",
    "store.compact_copied",
    "erase.after_purge",
    "files.after_part",  # the files sink wrote a part, the manifest does not list it yet
    "files.after_fold",  # the files sink rewrote traits, not yet memberships and the manifest
    "stream.before_commit",  # a stream micro-batch was delivered, its marks not yet committed
)
_TARGET, _, _NTH = os.environ.get("CONNECTOR_CRASH_AT", "").partition("@")
_WANTED = int(_NTH) if _NTH.isdigit() else 1
_reached = 0


def crashpoint(name: str) -> None:
    global _reached  # noqa: PLW0603 - one process-wide counter, read only by crash tests
    if _TARGET and _TARGET == name:
        _reached += 1
        if _reached >= _WANTED:
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
