"""A graceful stop: SIGTERM asks the current run to finish its batch, commit, and end.

The apply loop checks ``stop_requested()`` before each batch it sends; the runner checks it
between stages. Nothing is interrupted mid-batch, so what was acknowledged is in the ledger and
the rest is planned again by the next run.
"""

from __future__ import annotations

import logging
import signal
import threading
from types import FrameType

__all__ = ["install_sigterm_handler", "request_stop", "reset_stop", "stop_requested"]

log = logging.getLogger(__name__)

_STOP = threading.Event()


def request_stop() -> None:
    _STOP.set()


def stop_requested() -> bool:
    return _STOP.is_set()


def reset_stop() -> None:
    _STOP.clear()


def _on_sigterm(signum: int, _frame: FrameType | None) -> None:
    log.warning("signal %d: finishing the current batch, then stopping", signum)
    request_stop()


def install_sigterm_handler() -> None:
    """Only the main thread may install signal handlers; elsewhere this does nothing."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _on_sigterm)
