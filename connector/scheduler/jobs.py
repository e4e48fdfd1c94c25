"""What the scheduler calls: module-level functions, referenced as "module:function".

apscheduler's persistent job store pickles a job's callable by reference, so jobs must be
importable functions with picklable arguments (FACTS.md, apscheduler). Each call loads the
config afresh from its path, so an edited config applies from the next run on.
"""

from __future__ import annotations

import logging

from connector.config.loader import load_config
from connector.errors import ConnectorError, RunLockedError, describe

__all__ = ["RUN_PIPELINE", "run_scheduled"]

log = logging.getLogger(__name__)

RUN_PIPELINE = "connector.scheduler.jobs:run_scheduled"


def run_scheduled(config_path: str, secrets_path: str | None = None) -> str:
    """Run the pipeline once; return its status ("locked" when another run held the lock).

    Never raises for an expected failure: the run row, its errors and any alert already say
    what went wrong, and a traceback in the scheduler's log could carry a platform's message.
    """
    from pathlib import Path

    from connector.pipeline import run_pipeline
    from connector.workspace import Workspace

    try:
        cfg = load_config(
            Path(config_path), secrets_path=Path(secrets_path) if secrets_path else None
        )
    except ConnectorError as exc:
        log.error("scheduled run not started: %s", exc)
        return "config_error"
    ws = Workspace(cfg)
    try:
        summary = run_pipeline(ws)
    except RunLockedError as exc:
        log.warning("scheduled run skipped: %s", exc)
        return "locked"
    except ConnectorError as exc:
        log.error("scheduled run failed: %s", exc)
        return "failed"
    except Exception as exc:  # noqa: BLE001 - the scheduler outlives any one run's crash
        log.error("scheduled run crashed: %s", describe(exc))
        return "crashed"
    finally:
        ws.close()
    log.info("scheduled run %s: %s", summary.run_id, summary.status)
    return summary.status
