"""Operating the pipeline: the run lock, graceful stop, and the apscheduler service."""

from connector.scheduler.lock import RunLock, run_lock
from connector.scheduler.stop import request_stop, reset_stop, stop_requested

__all__ = ["RunLock", "request_stop", "reset_stop", "run_lock", "stop_requested"]
