"""A profile merged away leaves a file export even when its row was delivered with no trait
values (a memberships-only export, or every wanted trait held): the clear is a row removal,
never an empty row written under the survivor's address."""

from __future__ import annotations

from cdp_files.sink import _row
from connector.plugin.changes import Recipient, SegmentRef, TraitSpec
from connector.state.ledger import LedgerEntry
from connector.sync.desired import DesiredState
from connector.sync.plan import plan_destination

SPEC = [TraitSpec("clv", "number", "CLV", precision=0)]
VIP = SegmentRef("vip", "VIP")
GATES = {"consent_channel": "ads", "trait_consent_channel": "ads", "consent_policy": "not_denied"}


def test_a_merged_away_row_delivered_empty_is_removed() -> None:
    first = DesiredState(
        trait_specs=SPEC,
        segments=[VIP],
        members={"vip": {"A", "B"}},
        traits={"A": {"clv": 5}, "B": {}},
        recipients={"A": Recipient("A", email="a@x.org"), "B": Recipient("B", email="b@x.org")},
        consent={"A": {"ads": "granted"}, "B": {"ads": "granted"}},
    )
    planned = plan_destination("export", first, {}, rows_per_profile=True, **GATES)  # type: ignore[arg-type]
    sent = list(planned.upserts)
    assert {c.recipient.profile_id for c in sent} == {"A", "B"}
    ledger = {
        c.key: LedgerEntry(c.key, "trait", c.recipient.profile_id, None, c.digest, tuple(c.traits))
        for c in sent
    }
    ledger |= {
        c.key: LedgerEntry(c.key, "membership", c.recipient.profile_id, "vip", c.digest, ())
        for c in planned.adds
    }
    merged = DesiredState(
        trait_specs=SPEC,
        segments=[VIP],
        members={"vip": {"A"}},
        traits={"A": {"clv": 5}},
        recipients={"A": Recipient("A", email="a@x.org")},
        consent={"A": {"ads": "granted"}},
        aliases={"B": "A"},
    )
    plan = plan_destination("export", merged, ledger, rows_per_profile=True, **GATES)  # type: ignore[arg-type]
    (clear,) = list(plan.upserts)
    assert clear.recipient.profile_id == "B"
    assert clear.clears
    row = _row(clear)
    assert row is not None
    assert row["op"] == "unset"
    (gone,) = list(plan.removes)  # its membership row leaves too, sent as about someone gone
    assert (gone.recipient.profile_id, gone.clears) == ("B", True)
