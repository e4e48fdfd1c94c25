"""``connector schedule``: run the pipeline on the ``[schedule]`` of the config, until stopped."""

from __future__ import annotations

import signal
import threading
from types import FrameType
from typing import Any

from connector.cli.common import (
    ConfigOpt,
    LogFormatOpt,
    SecretsOpt,
    console,
    handle_errors,
    load,
    safe,
)
from connector.config.loader import config_path_from_env
from connector.runctl.stop import request_stop

__all__ = ["schedule"]


@handle_errors
def schedule(
    config: ConfigOpt = None, secrets: SecretsOpt = None, log_format: LogFormatOpt = None
) -> None:
    """Run the pipeline on its schedule (cron with weekday names, or an interval) until SIGTERM.

    SIGTERM or Ctrl-C lets the current run finish its batch and commit, then exits 0.
    """
    from connector.scheduler.service import serve

    cfg = load(config, secrets, log_format)
    path = cfg.config_path or config_path_from_env(config)
    stop = threading.Event()

    def _stop(signum: int, _frame: FrameType | None) -> None:
        request_stop()
        stop.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)

    def ready(scheduler: Any) -> None:
        for job in scheduler.get_jobs():
            console.print(
                f"scheduled {safe(job.id)}: {safe(job.trigger)}; next run {job.next_run_time}"
            )
        console.print("running; SIGTERM or Ctrl-C stops after the current batch", highlight=False)

    serve(cfg, path, stop, secrets_path=secrets, on_ready=ready)
    console.print("scheduler stopped")
