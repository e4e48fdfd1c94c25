"""Figures the gauntlet's tests leave behind for benchmarks/RELIABILITY.md.

When ``GAUNTLET_FIGURES`` names a directory, each test adds its counts (kill points tried,
faults injected, inputs tried, lines scanned, violations) to a JSON file there;
``benchmarks/reliability.py`` runs the suite with it set and writes the report. Without the
variable nothing is written, so the default suite leaves no files behind.
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from typing import Any

_LOCK = threading.Lock()


def record(section: str, key: str, values: dict[str, Any]) -> None:
    """Add ``values`` under ``section``/``key`` (numbers are summed with earlier values)."""
    where = os.environ.get("GAUNTLET_FIGURES")
    if not where:
        return
    path = Path(where) / f"{section}.json"
    with _LOCK:
        path.parent.mkdir(parents=True, exist_ok=True)
        data: dict[str, Any] = json.loads(path.read_text()) if path.exists() else {}
        entry = data.setdefault(key, {})
        for name, value in values.items():
            if isinstance(value, int | float) and isinstance(entry.get(name), int | float):
                entry[name] += value
            else:
                entry[name] = value
        path.write_text(json.dumps(data, indent=1, sort_keys=True))
