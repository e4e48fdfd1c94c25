"""What the scheduler calls: module-level functions, referenced as "module:function".

apscheduler's persistent job store pickles a job's callable by reference, so jobs must be
importable functions with picklable arguments (FACTS.md, apscheduler). Each call loads the
config afresh from its path, so an edited config applies from the next run on.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from connector.config.loader import load_config
from connector.errors import ConnectorError, RunLockedError, describe

if TYPE_CHECKING:
    from connector.pipeline.runner import RunSummary

__all__ = ["RUN_PIPELINE", "run_line", "run_scheduled"]

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
    summary.close()
    log.info("%s", run_line(summary))
    return summary.status


def run_line(summary: RunSummary) -> str:
    """One log line per scheduled run: status, time taken and the counts an operator scans."""
    c = summary.counts
    seconds = sum(
        float(stage.get("seconds") or 0)
        for stage in summary.stages.values()
        if isinstance(stage, dict)
    )
    failed = f", {len(summary.failures)} failure(s)" if summary.failures else ""
    failed += f", {len(summary.notices)} note(s)" if summary.notices else ""
    return (
        f"scheduled run {summary.run_id}: {summary.status} in {seconds:.1f}s: "
        f"pulled {c.get('pulled', 0)} ({c.get('quarantined', 0)} quarantined), "
        f"{c.get('profiles', 0)} profiles, planned {c.get('planned', 0)}, "
        f"applied {c.get('applied', 0)}, rejected {c.get('rejected', 0)}, "
        f"to retry {c.get('retryable', 0)}{failed}"
    )
