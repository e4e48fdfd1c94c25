"""``full_replace``: the runner's replace path (planner, ledger, ``replace_plan``) with the real
Meta sink against the emulator, read back from the emulator's audience state."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ads_driver import admin, email_hash, people, sha
from facebook_business.adobjects.customaudience import CustomAudience
from facebook_business.api import FacebookAdsApi

from cdp_meta import SPEC as META
from cdp_meta.emulator import MetaEmulator
from connector.plugin.changes import SegmentRef
from connector.state.ledger import Ledger, membership_key
from connector.state.store import StateStore
from connector.sync.desired import DesiredState
from connector.sync.plan import plan_destination
from connector.sync.replace import replace_plan
from connector.testing.context import make_context

HIGH = SegmentRef("high_value", "High value")


def desired(crowd: dict[str, Any]) -> DesiredState:
    state = DesiredState(trait_specs=[], segments=[HIGH])
    for pid, person in crowd.items():
        state.recipients[pid] = person.recipient
        state.consent[pid] = {"ads": "granted"}
    state.members[HIGH.id] = set(crowd)
    return state


def run(sink: Any, ledger: Ledger, crowd: dict[str, Any], run_id: str) -> Any:
    sink.prepare([], [HIGH])
    plan = plan_destination(
        "meta",
        desired(crowd),
        ledger.entries("meta"),
        consent_channel="ads",
        accepts=sink.accepts,
        with_traits=False,
        full_members=sink.replaces_members,
    )
    return plan, replace_plan(plan, sink, ledger, run_id=run_id, retry_rounds=0)


def audience(emu: MetaEmulator) -> dict[str, Any]:
    (only,) = admin(emu.base_url, "state")["audiences"].values()
    return only  # type: ignore[no-any-return]


def replace_calls(emu: MetaEmulator) -> list[dict[str, Any]]:
    log = admin(emu.base_url, "requests", params={"body": 1})["requests"]
    return [r for r in log if "/users" in r["path"]]


def test_full_replace_swaps_the_whole_audience_and_drops_drift(
    meta_emulator: MetaEmulator, tmp_path: Path
) -> None:
    settings = META.settings_model.model_validate(
        {
            "ad_account_id": "111",
            "access_token": MetaEmulator.access_token,
            "base_url": meta_emulator.base_url,
            "full_replace": True,
            "add_batch_size": 40,
            "max_retry_seconds": 5,
            "max_attempts": 2,
        }
    )
    context = make_context(tmp_path)
    (tmp_path / "ws").mkdir()
    ledger = Ledger(StateStore.for_workspace(tmp_path / "ws"))
    crowd = people(100)
    sink = META.sink(settings, context)  # type: ignore[misc]
    plan, result = run(sink, ledger, crowd, "r1")
    assert (result.applied, result.rejected, result.retryable) == (100, 0, 0)
    assert {m["EMAIL"] for m in audience(meta_emulator)["members"]} == {
        email_hash(p) for p in crowd.values()
    }
    calls = replace_calls(meta_emulator)
    assert [c["path"].rsplit("/", 1)[-1] for c in calls] == ["usersreplace"] * 3  # 40+40+20
    sessions = [json.loads(_form(c["body"])["session"]) for c in calls]
    assert [s["batch_seq"] for s in sessions] == [1, 2, 3]
    assert [s["last_batch_flag"] for s in sessions] == [False, False, True]
    assert len({s["session_id"] for s in sessions}) == 1
    assert admin(meta_emulator.base_url, "state")["open_replace_sessions"] == 0

    # Someone uploads other people to the audience in Ads Manager (drift a diff never sees).
    api = FacebookAdsApi.init(access_token=MetaEmulator.access_token, crash_log=False)
    api._session.GRAPH = meta_emulator.base_url
    stray = [sha(f"stray{i}@example.com") for i in range(5)]
    CustomAudience(audience(meta_emulator)["id"], api=api).add_users(
        "EMAIL_SHA256", stray, is_raw=True, pre_hashed=True
    )
    assert audience(meta_emulator)["member_count"] == 105
    # Next run: 10 leave, 7 join; the replace leaves exactly the wanted members.
    later = {k: p for i, (k, p) in enumerate(crowd.items()) if i >= 10} | people(7, offset=500)
    plan, result = run(META.sink(settings, context), ledger, later, "r2")  # type: ignore[misc]
    assert plan.counts() == {"upsert": 0, "add": 7, "remove": 10}
    assert len(plan.members[HIGH.id]) == len(later)
    assert (result.applied, result.retryable) == (17, 0)
    assert {m["EMAIL"] for m in audience(meta_emulator)["members"]} == {
        email_hash(p) for p in later.values()
    }
    memberships = {k for k, e in ledger.entries("meta").items() if e.kind == "membership"}
    assert memberships == {membership_key(HIGH.id, pid) for pid in later}

    # A refused session is never finished: Meta keeps the members it had and the run's
    # changes stay planned for the next run.
    admin(
        meta_emulator.base_url,
        "faults",
        json={"rules": [{"path": "*/usersreplace", "status": 400, "count": 10}]},
    )
    third = dict(list(later.items())[:50])
    plan, result = run(META.sink(settings, context), ledger, third, "r3")  # type: ignore[misc]
    assert (result.applied, result.retryable) == (0, plan.total)
    assert {m["EMAIL"] for m in audience(meta_emulator)["members"]} == {
        email_hash(p) for p in later.values()
    }
    again = plan_destination(
        "meta", desired(third), ledger.entries("meta"), consent_channel="ads", with_traits=False
    )
    assert again.counts() == plan.counts()


def _form(body: str) -> dict[str, str]:
    from urllib.parse import parse_qs

    return {k: v[0] for k, v in parse_qs(body).items()}
