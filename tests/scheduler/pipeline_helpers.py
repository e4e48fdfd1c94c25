"""Small files-in, files-out pipelines for the operate tests, on SQLite or PostgreSQL."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from tests.conftest import REPO, write_config


def make_pipeline(
    root: Path, *, people: int = 60, state_url: str | None = None, extra: str = ""
) -> Path:
    cfg = write_config(root, extra)
    if state_url and not state_url.startswith("sqlite"):
        text = cfg.read_text().replace(
            'path = ".connector"', f'path = ".connector"\nstate_url = "{state_url}"', 1
        )
        cfg.write_text(text)
    profiles = [
        {
            "source_id": f"c{i}",
            "email": f"person{i}@example.org",
            "first_name": f"P{i}",
            "country": "United Kingdom",
            "updated_at": "2011-11-01T00:00:00Z",
            "consent": {"email": "granted"},
        }
        for i in range(people)
    ]
    orders = [
        {
            "source_event_id": f"o{i}-{k}",
            "type": "order_completed",
            "occurred_at": f"2011-{1 + (i + k) % 11:02d}-{1 + i % 27:02d}T10:00:00Z",
            "email": f"person{i}@example.org",
            "revenue": 10 + (i * 7 + k * 13) % 200,
            "currency": "GBP",
        }
        for i in range(people)
        for k in range(1 + i % 3)
    ]
    for sub, rows in (("profiles/people.jsonl", profiles), ("events/orders.jsonl", orders)):
        (root / "data" / sub).write_text("".join(json.dumps(r) + "\n" for r in rows))
    return cfg


def cli_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    paths = [str(REPO), str(REPO / "plugins")]
    if env.get("PYTHONPATH"):
        paths.append(env["PYTHONPATH"])
    env["PYTHONPATH"] = os.pathsep.join(paths)
    env.pop("CONNECTOR_PAUSE_AT", None)
    env.pop("CONNECTOR_CRASH_AT", None)
    env.update(extra)
    return env


def start_cli(args: list[str], cwd: Path, **env: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "connector", *args],
        cwd=cwd,
        env=cli_env(**env),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for(predicate: object, timeout: float = 60.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")
