"""A first sync held for confirmation still records whom its plan skipped and why: the run's
record and report showed 0 skipped for it, then the 74 again on the confirmed run."""

from __future__ import annotations

from collections import Counter
from typing import Any, cast

from connector.pipeline.activate import Activation, apply_all
from connector.pipeline.progress import NoProgress
from connector.sync.plan import DestinationPlan


def test_a_held_destination_keeps_its_skip_counts() -> None:
    skipped = Counter({"no email consent": 47, "not identifiable": 27})
    act = Activation(desired=cast(Any, None))
    act.plans["hubspot_out"] = DestinationPlan("hubspot_out", skipped=skipped)
    act.held["hubspot_out"] = "would create 800 new records (limit 500): run with --yes"
    report = apply_all(cast(Any, None), act, "r1", NoProgress(), Counter())
    assert report["hubspot_out"]["held"].startswith("would create 800")
    assert report["hubspot_out"]["skipped"] == {"no email consent": 47, "not identifiable": 27}
