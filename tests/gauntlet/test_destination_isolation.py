"""One destination's failure never skips another, and what a sink can never identify is not
re-planned every run.

A captive portal or proxy in front of one platform answers every request with 200 and an HTML
page. Before the fix, that 2xx reached the SDKs' deserialisers (Klaviyo: None, Meta: a string,
Google: a dict without the fields) and escaped as a TypeError or KeyError, which failed the whole
run and skipped every later destination; Segment's SDK did not read it at all and took each
swallowed batch as delivered. Now it is a retryable ``NotJSONError`` classified in
``connector.http``, the run ends partial (exit 3) naming that destination, and every other
destination lands exactly as in the unfaulted reference.
"""

from __future__ import annotations

from collections.abc import Sequence
from importlib.metadata import EntryPoint, entry_points
from pathlib import Path
from typing import Any, Literal

import httpx
import pytest
from pydantic import BaseModel, ConfigDict
from tests.gauntlet import figures
from tests.gauntlet import harness as h

from connector.config import load_config
from connector.pipeline import Workspace, run_pipeline
from connector.plugin.changes import Change, Outcome, SegmentRef, TraitSpec
from connector.plugin.registry import ENTRY_POINT_GROUP, PluginRegistry
from connector.plugin.spec import Capability, PluginContext, PluginSpec, Sink

# the platform behind each destination, the endpoints only its sink calls, and the parts of the
# destination view that belong to it
DESTINATIONS: dict[str, tuple[str, dict[str, Any], tuple[str, ...]]] = {
    "klaviyo_out": (
        "klaviyo",
        {"path": "/api/*", "method": "POST"},
        ("klaviyo_lists", "klaviyo_traits"),
    ),
    "hubspot_out": (
        "hubspot",
        {"path": "/crm/v3/properties/*", "method": "POST"},
        ("hubspot_lists", "hubspot_traits"),
    ),
    "meta": ("meta", {"path": "*"}, ("meta_audiences",)),
    "google": ("google", {"path": "/v1/*"}, ("google_lists",)),
    "segment_out": ("segment", {"path": "/v1/batch"}, ("segment_traits",)),
}


@pytest.mark.parametrize(
    "destination",
    [
        pytest.param(d, marks=() if d == "klaviyo_out" else pytest.mark.slow)
        for d in sorted(DESTINATIONS)
    ],
)
def test_a_portal_in_front_of_one_destination_skips_no_other(
    tmp_path: Path, reference: dict[str, Any], destination: str
) -> None:
    platform, where, owned = DESTINATIONS[destination]
    with h.platforms(h.PROFILES) as p:
        cfg = h.write_config(tmp_path, p, retry_seconds=2.0)
        p.faults(platform, [{**where, "kind": "portal"}])  # every request, all run long
        done = h.run_cli(cfg, p)
        fired = p.state_faults(platform)
        view = h.destination_view(p, tmp_path)
        p.clear_faults()
        h.settle(cfg, p)  # the portal is gone: the next runs deliver what it held back
        healed = h.assert_ledger_agrees(p, tmp_path)
    others = [k for k in view if k not in owned]
    wrong = [k for k in others if h.comparable(view[k]) != h.comparable(reference["view"][k])]
    figures.record(
        "faults",
        platform,
        {"cases": 1, "injected": fired, "mismatches": len(wrong)},
    )
    assert fired > 0
    assert done.returncode == 3, (done.returncode, done.stderr[-2000:])
    print(done.stdout)
    assert f"destination {destination}" in done.stdout, done.stdout[-3000:]
    assert not wrong, f"a portal in front of {destination} changed {wrong}"
    assert h.comparable(healed) == h.comparable(reference["view"])


# ---- recipients a destination can never identify ---------------------------------------------

NAMELESS = [{"first_name": f"Walk{i}", "last_name": "In", "country": "US"} for i in range(3)]


def test_recipients_no_destination_can_identify_are_not_replanned(tmp_path: Path) -> None:
    """HubSpot contacts with neither email nor phone (and the scenario's phone-only people for
    Segment) can never be identified by Klaviyo or Segment. They used to be planned and
    rejected on every run, so every run exited 3; now the planner skips them, counts them as
    "not identifiable by <destination>", and the second run exits 0 with nothing planned."""
    with h.platforms(h.PROFILES) as p:
        seeded = httpx.post(
            f"{p.hubspot.base_url}/__emulator__/seed", json={"people": NAMELESS}, timeout=30
        )
        seeded.raise_for_status()
        cfg = h.write_config(tmp_path, p)
        first = h.run_cli(cfg, p)
        second = h.run_cli(cfg, p)
        third = h.in_process_run(cfg, p)
    assert first.returncode == 0, first.stdout[-2000:]
    assert second.returncode == 0, second.stdout[-2000:]
    assert third.counts["planned"] == 0
    assert third.counts["rejected"] == 0
    skipped = {name: dict(plan.skipped) for name, plan in third.plans.items()}
    assert skipped["klaviyo_out"].get("not identifiable by klaviyo_out", 0) >= len(NAMELESS)
    assert skipped["segment_out"].get("not identifiable by segment_out", 0) >= len(NAMELESS)


# ---- a third-party sink that fails with an exception that is not ours -----------------------


class _NoSettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class _BrittleSink:
    """A third-party sink with a bug: its platform's answer lacks a field it indexes."""

    consent: Literal["email", "ads"] | None = None

    def __init__(self, settings: _NoSettings, context: PluginContext) -> None:
        self.closed = False

    def batch_size(self, kind: str) -> int:
        return 100

    def prepare(self, traits: Sequence[TraitSpec], segments: Sequence[SegmentRef]) -> None:
        return None

    def apply(self, changes: Sequence[Change]) -> Sequence[Outcome]:
        first = changes[0].recipient.email or "x@example.org"
        raise KeyError(f"requestId missing in the answer for {first}")

    def close(self) -> None:
        self.closed = True


def _brittle(settings: Any, context: PluginContext) -> Sink:
    return _BrittleSink(settings, context)


BRITTLE = PluginSpec(
    "brittle",
    "a sink that raises KeyError",
    frozenset({Capability.SINK_TRAITS}),
    _NoSettings,
    sink=_brittle,
)


def test_an_unexpected_exception_in_one_destination_skips_no_later_one(
    tmp_path: Path, reference: dict[str, Any]
) -> None:
    """Only ``ConnectorError`` used to be isolated: a KeyError in the first destination failed
    the whole run and every later destination was skipped. Now it is recorded for that
    destination alone, redacted (the message quoted an email), and the others deliver."""
    registry = PluginRegistry(
        [*entry_points(group=ENTRY_POINT_GROUP), EntryPoint("brittle", f"{__name__}:BRITTLE", "")]
    )
    with h.platforms(h.PROFILES) as p:
        cfg = h.write_config(tmp_path, p)
        text = cfg.read_text().replace(
            "[destinations.klaviyo_out]",
            '[destinations.brittle]\nplugin = "brittle"\n\n[destinations.klaviyo_out]',
            1,
        )
        cfg.write_text(text)
        ws = Workspace(load_config(cfg, env=p.env, registry=registry), registry=registry)
        try:
            summary = run_pipeline(ws)
        finally:
            ws.close()
        view = h.destination_view(p, tmp_path)
    failures = [f for f in summary.failures if "brittle" in f]
    assert summary.status == "partial"
    assert len(failures) == 1, summary.failures
    assert "unexpected KeyError" in failures[0]
    assert "@" not in failures[0], "the failure is recorded redacted"
    assert not [f for f in summary.failures if "brittle" not in f], summary.failures
    for key in ("klaviyo_traits", "hubspot_traits", "segment_traits", "files"):
        assert h.comparable(view[key]) == h.comparable(reference["view"][key]), key
