"""Plain-language output: lift as a table with its interval (or "not enough data yet"), churn
risk in words, money in the shop's currency."""

from __future__ import annotations

import pytest

from connector.cli.common import console
from connector.cli.lift import print_lift
from connector.cli.profile_card import ProfileCard, churn_words, money, print_card


def _report(treated: tuple[int, float], control: tuple[int, float]) -> dict[str, object]:
    return {
        "treated": {
            "profiles": treated[0],
            "conversion_rate": treated[1],
            "revenue_per_profile": 12.5,
        },
        "control": {
            "profiles": control[0],
            "conversion_rate": control[1],
            "revenue_per_profile": 8.0,
        },
        "lift": {
            "conversion": {"difference": 0.05, "ci_low": -0.01, "ci_high": 0.11, "relative": 0.5},
            "revenue": {"difference": 4.5, "ci_low": -1.25, "ci_high": 10.0, "relative": 0.56},
        },
    }


def _printed(capsys: pytest.CaptureFixture[str], fn: object, *args: object) -> str:
    with console.capture() as cap:
        fn(*args)  # type: ignore[operator]
    return " ".join(cap.get().split())


def test_lift_reads_as_a_table_with_its_interval(capsys: pytest.CaptureFixture[str]) -> None:
    out = _printed(capsys, print_lift, _report((200, 0.15), (20, 0.10)), "GBP")
    assert "│ treated │ 200 │ 30 │ 15.0% │ £12.50 │" in out
    assert "│ control │ 20 │ 2 │ 10.0% │ £8.00 │" in out
    assert "conversion lift: +5.0 pts (95% interval -1.0 pts to +11.0 pts)" in out
    assert "revenue lift per profile: +£4.50 (95% interval -£1.25 to +£10.00)" in out


@pytest.mark.parametrize(
    ("treated", "control", "why"),
    [
        ((200, 0.0), (20, 0.0), "no conversions in either group"),
        ((200, 0.2), (1, 0.0), "the control group has 1 profile(s)"),
    ],
)
def test_lift_says_not_enough_data_instead_of_a_zero_width_interval(
    capsys: pytest.CaptureFixture[str],
    treated: tuple[int, float],
    control: tuple[int, float],
    why: str,
) -> None:
    out = _printed(capsys, print_lift, _report(treated, control), "USD")
    assert f"lift: not enough data yet ({why}" in out
    assert "interval" not in out


def test_scores_in_words(capsys: pytest.CaptureFixture[str]) -> None:
    assert [churn_words(r) for r in (0.1, 0.5, 0.9)] == ["low", "medium", "high"]
    assert money(1234.5, "EUR") == "€1,234.50"
    assert money(3.0, "SEK") == "3.00 SEK"
    card = ProfileCard(
        scores={"churn_risk": 0.8, "clv": 321.0, "next_order_date": "2012-01-05"},
        currency="GBP",
        segments=[("tier-high", "High value", True)],
        sent=[("klaviyo", "list High value", "2026-12-01 10:00", "r1")],
    )
    out = _printed(capsys, print_card, card)
    assert "churn risk: high (80% chance of no order in 90 days)" in out
    assert "predicted lifetime value: £321.00 over the next 365 days" in out
    assert "expected next order: around 2012-01-05" in out
    assert "High value (tier-high): control group: kept back, not sent" in out
    assert "klaviyo │ list High value │ 2026-12-01 10:00" in out


def test_the_plan_sample_names_people_and_segments() -> None:
    from connector.cli.plan_sample import sample_lines
    from connector.plugin.changes import Change, ChangeKind, Recipient, SegmentRef
    from connector.sync.plan import DestinationPlan

    jane = Recipient("p_1a2b3c4d5e6f7a8b", email="jane.doe@example.com")
    nobody = Recipient("p_99aa88bb77cc66dd")
    high = SegmentRef("tier-high", "High value")
    plan = DestinationPlan(
        "email",
        upserts=[Change(ChangeKind.UPSERT, jane, "t:x", "d", {"clv": 321.5, "tier": "high"})],
        adds=[Change(ChangeKind.ADD, jane, "m:x", "1", segment=high)],
        removes=[Change(ChangeKind.REMOVE, nobody, "m:y", "1", segment=high)],
    )
    assert sample_lines(plan) == [
        "  traits j***@example.com: clv=321.50, tier=high",
        "  add    j***@example.com to High value (tier-high)",
        "  remove p_99aa88bb77cc66dd from High value (tier-high)",
    ]
