"""Segment's part in ``connector demo``: web browsing as an S3-layout archive, identify out."""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime
from pathlib import Path

from connector.sdk import DemoCast, DemoPart

__all__ = ["demo_setup"]

# A fake write key the emulator accepts; it exists only in the demo directory.
_WRITE_KEY = "demo-segment-write-key"


def _write_archive(root: Path, cast: DemoCast) -> Path:
    """One gzip file per day folder, as Segment's S3 destination lays them out."""
    by_day: dict[int, list[str]] = {}
    for msg in cast.web_messages:
        line = json.dumps({**msg, "projectId": "demoWebSource"})
        by_day.setdefault(int(msg["timestamp"][:10].replace("-", "")), []).append(line)
    logs = root / "segment-archive" / "segment-logs" / "demoWebSource"
    for day, lines in sorted(by_day.items()):
        start = datetime.strptime(str(day), "%Y%m%d").replace(tzinfo=UTC)
        folder = logs / str(int(start.timestamp() * 1000))
        folder.mkdir(parents=True, exist_ok=True)
        with gzip.open(folder / "web-0001.gz", "wt", encoding="utf-8") as fh:
            fh.write("\n".join(lines) + "\n")
    return root / "segment-archive"


def demo_setup(base_url: str, cast: DemoCast) -> DemoPart:
    """The archive as a source; identify calls to the emulator as a destination."""
    archive = _write_archive(cast.root, cast).as_posix()
    config = "\n".join(
        [
            f'[sources.segment]\nplugin = "segment"\narchive_url = "{archive}"\nlookback = "0s"\n',
            f'[destinations.segment_out]\nplugin = "segment"\nbase_url = "{base_url}"\n',
        ]
    )
    return DemoPart(config, f'[destinations.segment_out]\nwrite_key = "{_WRITE_KEY}"\n')
