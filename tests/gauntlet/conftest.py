"""Shared fixtures: the uncrashed, unfaulted reference result of the standard scenario."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
from tests.gauntlet import harness as h


@pytest.fixture(scope="session")
def reference(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """What an uncrashed, unfaulted pipeline delivers, run to its fixed point."""
    root = tmp_path_factory.mktemp("reference")
    with h.platforms(h.PROFILES) as p:
        cfg = h.write_config(root, p)
        h.settle(cfg, p)
        view = h.assert_ledger_agrees(p, root)
        events = h.events_in_store(root)
    return {"view": view, "events": Counter(events)}
