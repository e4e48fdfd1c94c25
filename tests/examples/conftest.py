"""The example plugin importable; its test installs it (entry point) for the registry."""

from __future__ import annotations

import sys
from pathlib import Path

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "cdp_example"
sys.path.insert(0, str(EXAMPLE))
