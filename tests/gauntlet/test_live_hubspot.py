"""Live account, HubSpot: the portal changes under the connector across five pulling runs.

A mutator thread edits, archives, merges and back-dates HubSpot records through the official
SDK while the whole pipeline runs (the HubSpot and Klaviyo sources, every destination emulator).
The Klaviyo destination copies every person into Klaviyo and the Klaviyo source reads those
profiles back: they are echoes of our writes and must not keep alive anyone deleted from HubSpot
(people Klaviyo held on its own before the first run are theirs, so they are never archived).
Records changed during a run's scan are by design read by the next run, so one quiet run follows
the five; then the store must equal the emulator's truth and no archived or merged-away person
may be active in the store or present in any destination.
"""

from __future__ import annotations

import pytest
from tests.gauntlet import harness as h
from tests.gauntlet import live_hubspot as live
from tests.gauntlet.figures import record

pytestmark = pytest.mark.slow

PROFILES = 1_000
RUNS = 5
PER_RUN = 240  # mutations released at the start of each run: >= 1,000 over the five


@pytest.mark.long
def test_store_equals_a_portal_edited_during_five_runs(tmp_path):
    with h.platforms(PROFILES, seed=5) as p:
        root = tmp_path / "ws"
        cfg = h.write_config(root, p)
        head = '[sources.hubspot]\nplugin = "hubspot"\n'
        cfg.write_text(cfg.read_text().replace(head, head + "contact_reconcile_hours = 0\n"))
        native = p.state("klaviyo")["profiles"].values()
        keep = {str(pr["email"]).lower() for pr in native if pr.get("email")}
        mutator = live.Mutator(p.hubspot, keep)
        mutator.thread.start()
        summaries = []
        try:
            for _ in range(RUNS):
                mutator.allow(PER_RUN)
                summaries.append(h.in_process_run(cfg, p))
        finally:
            mutator.finish()
        quiet = h.in_process_run(cfg, p)  # reads what changed during the fifth run's scan
        # a contact merged while the HubSpot destination writes it is retried next run
        for summary in summaries:
            assert "source hubspot" not in str(summary.failures), summary.failures
        assert "hubspot" not in str(quiet.failures), quiet.failures
        truth = live.store_vs_truth(p.hubspot, root)
        gone_ids, gone_emails = live.gone_people(p.hubspot, keep, mutator.purged)
        active, apart = live.deleted_active(p.hubspot, root, gone_ids, mutator.purged)
        figures = {
            "mutations": mutator.total,
            **truth,
            "deleted_active": active,
            "merged_apart": apart,
            "in_destination": live.in_destinations(p, root, gone_emails),
        }
        record("live", "hubspot", figures)
        assert mutator.total >= 1_000, mutator.done
        kinds = ("edited", "archived", "gdpr_deleted", "merged", "back_dated")
        assert all(mutator.done.get(k) for k in kinds), mutator.done
        assert gone_ids, "some people left HubSpot altogether"
        assert figures == {
            "mutations": mutator.total,
            "lost": 0,
            "stale": 0,
            "deleted_active": 0,
            "merged_apart": 0,
            "in_destination": 0,
        }, (figures, mutator.done)
