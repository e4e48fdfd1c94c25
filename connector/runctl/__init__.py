"""Run control, below the pipeline: the run lock, the graceful-stop flag, named crash points.

Production stages call these, so they live here rather than in ``scheduler`` (above the runner)
or ``testing`` (which production never imports).
"""

from connector.runctl.lock import RunLock, run_lock
from connector.runctl.stop import request_stop, reset_stop, stop_requested

__all__ = ["RunLock", "request_stop", "reset_stop", "run_lock", "stop_requested"]
