"""A job the scheduler tests reference as "module:function": it records that it ran."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path


def record(config_path: str, secrets_path: str | None = None) -> None:
    with (Path(config_path).parent / "runs.log").open("a") as fh:
        fh.write(datetime.now(UTC).isoformat() + "\n")
