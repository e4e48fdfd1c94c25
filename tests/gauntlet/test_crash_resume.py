"""Crash and resume: a run killed anywhere loses nothing and duplicates nothing.

Each scenario starts fresh emulators, kills ``python -m connector run`` one or more times (at
the named crash points via ``CONNECTOR_CRASH_AT``, or with a SIGKILL timed by what the emulators
have received), then lets the pipeline run to a fixed point. The destinations must then hold
exactly what an uncrashed reference run delivered (same list members, audience members, traits
and files rows, keyed by email), the ledger must agree with every destination, and the data
store must hold every source event exactly once.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from tests.gauntlet import figures
from tests.gauntlet import harness as h


@dataclass(frozen=True)
class Kill:
    """One way to kill a run: a named crash point, or a SIGKILL when ``trigger`` holds."""

    label: str
    crash_at: str | None = None
    trigger: Callable[[h.Platforms], Callable[[], bool]] | None = None
    slow: tuple[str, dict[str, Any]] | None = None  # (platform, fault rule) to widen the window


def _seen(emu: Any, method: str, fragment: str, at_least: int = 1) -> Callable[[], bool]:
    def check() -> bool:
        hits = [r for r in emu.recorder.entries() if r.method == method and fragment in r.path]
        return len(hits) >= at_least

    return check


def _after(count: int, method: str, fragment: str, platform: str) -> Callable[..., Any]:
    def trigger(p: h.Platforms) -> Callable[[], bool]:
        emu = p.all()[platform]
        base = sum(1 for r in emu.recorder.entries() if r.method == method and fragment in r.path)
        return _seen(emu, method, fragment, base + count)

    return trigger


PULL_SLOW = ("klaviyo", {"path": "/api/events", "method": "GET", "kind": "slow", "delay": 0.15})
APPLY_SLOW = ("hubspot", {"path": "*/batch/upsert", "kind": "slow", "delay": 0.3})
GOOGLE_SLOW = ("google", {"path": "/v1/audienceMembers:*", "kind": "slow", "delay": 0.3})
SEGMENT_SLOW = ("segment", {"path": "/v1/batch", "kind": "slow", "delay": 0.3})

KILLS: dict[str, Kill] = {
    k.label: k
    for k in [
        Kill("pull.after_store@1", crash_at="pull.after_store@1"),
        Kill("pull.after_store@3", crash_at="pull.after_store@3"),
        Kill("model.after_write", crash_at="model.after_write"),
        Kill("apply.after_ack@1", crash_at="apply.after_ack@1"),
        Kill("apply.after_ack@3", crash_at="apply.after_ack@3"),
        Kill("apply.after_ack@6", crash_at="apply.after_ack@6"),
        Kill("apply.after_ack@12", crash_at="apply.after_ack@12"),
        Kill("apply.after_ledger@2", crash_at="apply.after_ledger@2"),
        Kill("apply.after_ledger@8", crash_at="apply.after_ledger@8"),
        Kill(
            "sigkill mid-pull (klaviyo events page 2)",
            trigger=_after(2, "GET", "/api/events", "klaviyo"),
            slow=PULL_SLOW,
        ),
        Kill(
            "sigkill mid-pull (hubspot search page 3)",
            trigger=_after(3, "POST", "/search", "hubspot"),
        ),
        Kill(
            "sigkill mid-apply (klaviyo import job posted)",
            trigger=_after(1, "POST", "/api/profile-bulk-import-jobs", "klaviyo"),
        ),
        Kill(
            "sigkill mid-apply (hubspot 2nd upsert batch in flight)",
            trigger=_after(2, "POST", "/batch/upsert", "hubspot"),
            slow=APPLY_SLOW,
        ),
        Kill(
            "sigkill mid-apply (meta audience add)",
            trigger=_after(1, "POST", "/users", "meta"),
        ),
        Kill(
            "sigkill mid-apply (google ingest in flight)",
            trigger=_after(1, "POST", "audienceMembers:ingest", "google"),
            slow=GOOGLE_SLOW,
        ),
        Kill(
            "sigkill mid-apply (segment batch in flight)",
            trigger=_after(1, "POST", "/v1/batch", "segment"),
            slow=SEGMENT_SLOW,
        ),
    ]
}


def _kill(cfg: Path, p: h.Platforms, kill: Kill) -> int:
    if kill.slow:
        p.faults(kill.slow[0], [kill.slow[1]])
    try:
        if kill.crash_at:
            done = h.run_cli(cfg, p, CONNECTOR_CRASH_AT=kill.crash_at)
            return done.returncode
        assert kill.trigger is not None
        return h.run_and_kill(cfg, p, when=kill.trigger(p))
    finally:
        p.clear_faults()


def _lost_and_duplicated(view: dict[str, Any], ref: dict[str, Any]) -> tuple[int, int]:
    lost = dup = 0
    for key in ("klaviyo_lists", "hubspot_lists", "meta_audiences", "google_lists"):
        for name in set(view[key]) | set(ref[key]):
            have, want = Counter(view[key].get(name, [])), Counter(ref[key].get(name, []))
            lost += sum((want - have).values())
            dup += sum((have - want).values())
    for key in ("klaviyo_traits", "hubspot_traits", "segment_traits"):
        lost += sum(1 for e, t in ref[key].items() if view[key].get(e) != t)
    files, ref_files = view["files"], ref["files"]
    lost += sum(1 for e, t in ref_files["traits"].items() if files["traits"].get(e) != t)
    lost += len(set(ref_files["memberships"]) - set(files["memberships"]))
    dup += files["duplicates"] + len(set(files["memberships"]) - set(ref_files["memberships"]))
    return lost, dup


def crash_chain(tmp: Path, kills: list[Kill], reference: dict[str, Any]) -> None:
    """Kill the run at each of ``kills`` in turn, then resume; judge against ``reference``."""
    with h.platforms(h.PROFILES) as p:
        cfg = h.write_config(tmp, p)
        codes = [_kill(cfg, p, k) for k in kills]
        h.settle(cfg, p)
        view = h.assert_ledger_agrees(p, tmp)
        events = Counter(h.events_in_store(tmp))
    lost, dup = _lost_and_duplicated(view, reference["view"])
    ev_dup = sum(n - 1 for n in events.values() if n > 1)
    ev_lost = sum(1 for k in reference["events"] if k not in events)
    for k, code in zip(kills, codes, strict=True):
        figures.record(
            "crash",
            k.label,
            {"tried": 1, "killed": int(code in (137, -9)), "lost": lost, "duplicated": dup},
        )
    figures.record("crash", "events", {"lost": ev_lost, "duplicated": ev_dup})
    assert any(code in (137, -9) for code in codes), f"no kill landed: exit codes {codes}"
    assert (lost, dup) == (0, 0), f"{lost} lost and {dup} duplicated after kills at {codes}"
    assert h.comparable(view) == h.comparable(reference["view"])
    assert (ev_lost, ev_dup) == (0, 0), f"events: {ev_lost} lost, {ev_dup} duplicated"


def test_kills_during_pull_and_apply_lose_and_duplicate_nothing(
    tmp_path: Path, reference: dict[str, Any]
) -> None:
    """Quick chain: three kills in one workspace (between ack and ledger, a timed SIGKILL while
    HubSpot batches are in flight, after a later ledger commit), then resume."""
    crash_chain(
        tmp_path,
        [
            KILLS["apply.after_ack@3"],
            KILLS["sigkill mid-apply (hubspot 2nd upsert batch in flight)"],
            KILLS["apply.after_ledger@8"],
        ],
        reference,
    )


@pytest.mark.slow
@pytest.mark.parametrize("label", sorted(KILLS))
def test_each_kill_point_alone(tmp_path: Path, reference: dict[str, Any], label: str) -> None:
    crash_chain(tmp_path, [KILLS[label]], reference)


@pytest.mark.long
@pytest.mark.slow
def test_every_kill_point_in_one_workspace(tmp_path: Path, reference: dict[str, Any]) -> None:
    """A run that crashes again and again, at every point in turn, still converges exactly."""
    crash_chain(tmp_path, list(KILLS.values()), reference)
