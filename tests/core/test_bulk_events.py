"""The bulk pull agrees with record-at-a-time validation on hostile pages (issue 14, item 2).

A page of events validated in bulk (``accept_page``) must store exactly the rows, quarantine
exactly the records with exactly the reasons and references, and move the cursor to exactly the
mark that validating its rows one by one (``accept_chunk`` over ``page_records``) gives.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connector.errors import SkippableError
from connector.pipeline.accept import PullContext, accept_chunk
from connector.pipeline.bulk_events import validate_events
from connector.pipeline.pull_pages import accept_page
from connector.plugin.spec import Stream
from connector.schema.bulk_time import engine, iso_sql, keep_since
from connector.schema.flat import page_records
from connector.schema.normalise import parse_timestamp
from connector.store.events_in import event_rows

STREAM = Stream("events", "events", "timestamp", "occurred_at")
HORIZON = datetime(2030, 1, 1, tzinfo=UTC)
SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


class _Quarantine:
    """Collects what the pull would quarantine: (reason, reference, record as read)."""

    def __init__(self) -> None:
        self.items: list[tuple[str, str, Any]] = []

    def add(self, stream: str, reason: str, ref: str, raw: Any) -> None:
        self.items.append((reason, ref, raw))

    def flush(self) -> None:
        """Nothing to write: the items stay for the test to compare."""


def _context(suppress: str | None = None) -> PullContext:
    config = SimpleNamespace(identity=SimpleNamespace(default_region="US"))
    check = None if suppress is None else (lambda rec: rec.email == suppress)
    return PullContext(
        SimpleNamespace(config=config),  # type: ignore[arg-type]
        "shop",
        None,  # type: ignore[arg-type]
        "run-1",
        False,
        _Quarantine(),  # type: ignore[arg-type]
        HORIZON,
        None,
        check,
    )


def _both(page: pa.Table, suppress: str | None = None) -> None:
    """Bulk and record-at-a-time give the same rows, quarantine, mark and counts."""
    one, bulk = _context(suppress), _context(suppress)
    one_stats, bulk_stats = {"suppressed": 0}, {"suppressed": 0}
    records = page_records(page, "source_event_id")
    good, one_mark = accept_chunk(one, STREAM, records, 10, one_stats, "2000-01-01T00:00:00Z")
    rows, bulk_mark = accept_page(bulk, STREAM, page, 10, bulk_stats, "2000-01-01T00:00:00Z")
    assert isinstance(rows, pa.Table)
    assert rows.to_pylist() == event_rows(good).to_pylist()
    assert bulk.quarantine.items == one.quarantine.items  # type: ignore[attr-defined]
    assert bulk_mark == one_mark
    assert bulk_stats == one_stats


# ---- hostile values, column by column ----------------------------------------------------

text = st.text(max_size=12)
stamps = st.datetimes(
    min_value=datetime(900, 1, 1), max_value=datetime(9999, 12, 30), timezones=st.just(None)
).flatmap(
    lambda d: st.sampled_from(
        [
            d.isoformat(),
            d.isoformat() + "Z",
            d.isoformat(sep=" ", timespec="minutes"),
            d.isoformat(timespec="seconds") + "+05:30",
            d.isoformat(timespec="milliseconds") + "-11:00",
            d.date().isoformat(),
            " " + d.isoformat() + "Z",
            d.isoformat() + "+0530",
        ]
    )
)
VALUES: dict[str, st.SearchStrategy[Any]] = {
    "source_event_id": st.sampled_from(["e1", "e2", "e1", " e3", "", "e\ufffd", "x" * 300]) | text,
    "type": st.sampled_from(
        ["order_completed", "page_viewed", "Page", "custom_type", " page_viewed", "", "a-b"]
    )
    | text,
    "occurred_at": stamps
    | st.sampled_from(
        ["", "1700000000", "2024-02-30", "9999-12-31T23:59:59-05:00", "2024-01-02T24:00:00"]
    )
    | text,
    "email": st.sampled_from(
        [
            "a@example.org",
            "A@Example.ORG",
            " a@example.org",
            "a b@example.org",
            "bad@",
            "\uff4aohn@example.com",
            "x@test",
            "ren\ufffde@x.org",
            "",
            "b@example.org\n",
        ]
    )
    | text,
    "phone": st.sampled_from(
        ["(415) 555-0123", "+1 212 555 0100 ext. 12", "+44 20 7946 0958", "123", "", "0044 20"]
    )
    | text,
    "ids.crm": st.sampled_from(["1", " 2", 'q"x', "a\\b", "\ufffd", "x" * 300, "", "é"]) | text,
    "ids.shop_id": st.sampled_from(["s1", "", "2 "]),
    "revenue": st.sampled_from(["12.5", "-3", "1e3", "abc", "", "nan", "1e13", "007", " 4"]),
    "currency": st.sampled_from(["usd", "EUR", "euro", "", " us", "\u00df", "u\u00dfd"]),
    "properties": st.sampled_from(
        [
            '{"a": 1}',
            '{"b": [1, {"c": null}], "a": "x"}',
            "[]",
            "0",
            "{",
            "NaN",
            '{"a": NaN}',
            "",
            " ",
            '{"a": 1, "a": 2}',
            '{"x":' * 40 + "1" + "}" * 40,
            '{"big": "' + "y" * 70_000 + '"}',
        ]
    )
    | text,
    "traits.note": text,
}


@st.composite
def pages(draw: st.DrawFn) -> pa.Table:
    columns = draw(st.sets(st.sampled_from(sorted(VALUES)), min_size=1))
    columns |= {"source_event_id", "type", "occurred_at"}
    n = draw(st.integers(1, 8))
    data = {c: [draw(st.none() | VALUES[c]) for _ in range(n)] for c in sorted(columns)}
    if "revenue" in data and draw(st.booleans()):  # a typed column, as Parquet writers make
        data["revenue"] = [
            draw(st.none() | st.sampled_from([1.5, math.nan, math.inf, 1e13, -0.0, 3.0]))
            for _ in range(n)
        ]
    if draw(st.booleans()):  # typed timestamps, naive or with an offset, as Parquet holds them
        zone = draw(st.sampled_from([None, "UTC", "+05:30", "-11:00"]))
        unit = draw(st.sampled_from(["s", "ms", "us"]))
        moments = st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30))
        values = [draw(st.none() | moments) for _ in range(n)]
        if unit != "us":
            values = [v.replace(microsecond=0) if v else v for v in values]
        data["occurred_at"] = pa.array(values, pa.timestamp(unit, tz=zone))
    return pa.table(data)


@SETTINGS
@given(pages(), st.sampled_from([None, "a@example.org"]))
def test_bulk_agrees_with_record_at_a_time_on_hostile_pages(
    page: pa.Table, suppress: str | None
) -> None:
    _both(page, suppress)


def test_a_clean_page_is_accepted_in_bulk_and_agrees() -> None:
    n = 300
    page = pa.table(
        {
            "source_event_id": [f"e{i}" for i in range(n)],
            "type": ["order_completed"] * n,
            "occurred_at": [f"2024-01-{1 + i % 28:02d}T10:00:00Z" for i in range(n)],
            "email": [f"Person{i % 50}@Example.org" for i in range(n)],
            "phone": ["(415) 555-0123" if i % 3 else None for i in range(n)],
            "ids.crm": [str(i) for i in range(n)],
            "revenue": [float(i) for i in range(n)],
            "currency": ["usd"] * n,
            "properties": [f'{{"order_id": "o{i}", "b": 2}}' for i in range(n)],
        }
    )
    typed = pa.array([datetime(2024, 1, 1 + i % 28, 10) for i in range(n)], pa.timestamp("ms"))
    for each in (page, page.set_column(2, "occurred_at", typed)):
        bulk = validate_events(each, source="shop", region="US", horizon=HORIZON)
        assert len(bulk.exact) == 0  # no row left to Python
        assert bulk.accepted.num_rows == n
        _both(each)


def test_a_page_of_unusual_columns_goes_record_by_record_and_agrees() -> None:
    page = pa.table(
        {
            "source_event_id": [1, 2],  # numbers: the record path decides how they read
            "type": ["page_viewed", "page_viewed"],
            "occurred_at": ["2024-01-01", "2024-01-02"],
            "ids.Bad-Kind": ["a", "b"],
        }
    )
    assert len(validate_events(page, source="s", region="US", horizon=HORIZON).exact) == 2
    _both(page)


# ---- timestamps: the SQL parse never disagrees with parse_timestamp -----------------------


@SETTINGS
@given(st.lists(stamps | text, min_size=1, max_size=10))
def test_sql_timestamps_agree_with_parse_timestamp(values: list[str]) -> None:
    con = engine()
    con.register("stamps", pa.table({"v": values, "i": list(range(len(values)))}))
    try:
        got = [r[0] for r in con.sql(f"SELECT {iso_sql('v')} FROM stamps ORDER BY i").fetchall()]
    finally:
        con.unregister("stamps")
    for value, parsed in zip(values, got, strict=True):
        if parsed is None:
            continue  # unsure: the caller asks parse_timestamp
        assert parsed == parse_timestamp(value).replace(tzinfo=None), value


def _older(value: Any, lower: datetime) -> bool:
    if value in (None, "") or (isinstance(value, float) and math.isnan(value)):
        return False
    try:
        return parse_timestamp(value) < lower
    except SkippableError:
        return False


@SETTINGS
@given(
    st.lists(st.none() | stamps | text, min_size=1, max_size=10),
    st.datetimes(min_value=datetime(1990, 1, 1), max_value=datetime(2100, 1, 1)),
)
def test_keep_since_keeps_what_the_record_filter_keeps(
    values: list[str | None], lower: datetime
) -> None:
    at = lower.replace(tzinfo=UTC)
    page = pa.RecordBatch.from_pydict({"updated_at": values})
    keep = keep_since(page, "updated_at", at)
    assert list(keep) == [not _older(v, at) for v in values]


@pytest.mark.parametrize(
    "column",
    [
        pa.array([1_700_000_000, None]),
        pa.array([1.5e12, math.nan]),
        pa.array([datetime(2023, 11, 14, 21, 59), datetime(2023, 11, 14, 22)], pa.timestamp("s")),
        pa.array(
            [datetime(2023, 11, 15, 3, 29), datetime(2023, 11, 15, 3, 30), None],
            pa.timestamp("ms", tz="+05:30"),
        ),
    ],
)
def test_keep_since_on_numeric_and_typed_cursors(column: pa.Array) -> None:
    at = datetime(2023, 11, 14, 22, 0, tzinfo=UTC)
    keep = keep_since(pa.RecordBatch.from_arrays([column], ["t"]), "t", at)
    assert list(keep) == [not _older(v, at) for v in column.to_pylist()]


def test_lower_bound_of_a_page_is_timedelta_exact() -> None:
    page = pa.RecordBatch.from_pydict({"t": ["2024-01-01T00:00:00Z", "2023-12-31T23:59:59Z"]})
    at = datetime(2024, 1, 1, tzinfo=UTC)
    assert list(keep_since(page, "t", at)) == [True, False]
    assert list(keep_since(page, "t", at + timedelta(microseconds=1))) == [False, False]
