"""The demo's data is current relative to today's clock, and stable within a week (issue 16).

Its orders are a 2011 slice of UCI Online Retail; moved by whole weeks to end just before the
current week, a newcomer's first run scores a shop that is still trading, and every run in the
same week writes the same bytes.
"""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta
from pathlib import Path

from connector.demo.dataset import demo_as_of, demo_shift, orders_by_customer, write_demo_inputs


def test_the_shift_is_whole_weeks_to_this_weeks_monday() -> None:
    for today in (date(2026, 11, 30), date(2026, 12, 3), date(2026, 12, 6)):  # Mon, Thu, Sun
        assert demo_as_of(today) == date(2026, 11, 30)
        assert demo_shift(today).days % 7 == 0
    assert demo_as_of(date(2026, 12, 7)) == date(2026, 12, 7)  # the next Monday moves on
    newest = max(o["at"] for orders in orders_by_customer()[0].values() for o in orders)
    as_of = datetime.combine(demo_as_of(), datetime.min.time())
    assert timedelta(days=2) < as_of - newest < timedelta(days=4)  # the Friday before
    assert newest.weekday() == 4  # weekdays stay weekdays: the slice ends on a Friday


def test_the_files_are_current_and_identical_within_a_week(tmp_path: Path) -> None:
    write_demo_inputs(tmp_path / "a")
    write_demo_inputs(tmp_path / "b")
    for name in ("events/orders.jsonl", "profiles/crm_contacts.csv", "segment/web.jsonl"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    lines = (tmp_path / "a" / "events" / "orders.jsonl").read_text().splitlines()
    dates = [json.loads(line)["occurred_at"][:10] for line in lines[:-1]]  # the last is broken
    assert max(dates) < demo_as_of().isoformat()
    assert max(dates) >= (demo_as_of() - timedelta(days=7)).isoformat()
    unshifted = tmp_path / "c"
    write_demo_inputs(unshifted, shift=timedelta(0))
    first = json.loads((unshifted / "events" / "orders.jsonl").read_text().splitlines()[0])
    assert first["occurred_at"].startswith("2011-") or first["occurred_at"].startswith("2010-")
