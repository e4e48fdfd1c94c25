"""Hostile input: every parser of outside data ends in a record, a quarantine or a clear error.

A parser may return a record, return ``None`` (not its kind of message), mark a record
``_invalid`` (quarantined by the pull stage), raise ``SkippableError`` (one bad record) or, for
configuration, ``ConfigError``. Anything else would stop a run, so the test fails on it.
"""

from __future__ import annotations

import gzip
import io
import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.gauntlet import figures
from tests.gauntlet.hostile import (
    edge_timestamps,
    encodings,
    event_records,
    hostile_text,
    json_values,
    nesting,
    odd_identifiers,
    profile_records,
    records,
    scalars,
)

from cdp_files.readers import read_file
from cdp_files.source import spec_record
from cdp_hubspot.source import contact_record, deal_record
from cdp_klaviyo.mapping import EVENT_TYPES_BY_METRIC, safe_map_event, safe_map_profile
from cdp_segment.archive import ArchiveStore, event_mapper, read_archive
from connector.config import load_config
from connector.errors import ConfigError, SkippableError
from connector.schema.normalise import parse_timestamp
from connector.schema.rawinput import InputLimits
from connector.schema.records import validate_event, validate_profile
from connector.schema.segment_spec import event_record, profile_record

TRIED: Counter[str] = Counter()
# a dozen examples per parser in the default suite; the slow test re-runs with many more
EXAMPLES = int(os.environ.get("GAUNTLET_EXAMPLES", "12"))
SETTINGS = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


@pytest.fixture(scope="module", autouse=True)
def _report() -> Any:
    yield
    for parser, n in TRIED.items():
        figures.record("hostile", parser, {"inputs": n, "crashes": 0})


def _through_validation(rec: Any, kind: str) -> None:
    """What the pull stage does with a mapped record: quarantine or store, never crash."""
    TRIED[f"validate_{kind}"] += 1
    if rec is None:
        return
    if isinstance(rec, dict) and "_invalid" in rec:
        return
    validate = validate_profile if kind == "profile" else validate_event
    try:
        validate(rec, source="hostile", region="US")
    except SkippableError:
        return


def _mapped(fn: Any, *args: Any, **kwargs: Any) -> Any:
    try:
        return fn(*args, **kwargs)
    except SkippableError:
        return None


# ---- canonical validation -------------------------------------------------------------------


@SETTINGS
@given(profile_records)
def test_validate_profile(rec: dict[str, Any]) -> None:
    _through_validation(rec, "profile")


@SETTINGS
@given(event_records)
def test_validate_event(rec: dict[str, Any]) -> None:
    _through_validation(rec, "event")


# ---- the files source: CSV, JSONL, Parquet --------------------------------------------------


def _csv_text(rows: list[dict[str, Any]]) -> str:
    buf = io.StringIO()
    cols = sorted({k for r in rows for k in r if "\x00" not in k})
    import csv

    writer = csv.DictWriter(buf, fieldnames=cols, extrasaction="ignore")
    writer.writeheader()
    for r in rows:
        writer.writerow({k: v if isinstance(v, str) else json.dumps(v) for k, v in r.items()})
    return buf.getvalue()


def _utf8(text: str) -> str:
    return text.encode("utf-8", "replace").decode("utf-8")


def _read_all(path: Path, key: str, kind: str) -> None:
    for rec in read_file(path, key):
        _through_validation(rec, kind)


@SETTINGS
@given(st.lists(profile_records, max_size=5), st.binary(max_size=200))
def test_files_csv_and_raw_bytes(tmp_path: Path, rows: list[dict[str, Any]], junk: bytes) -> None:
    TRIED["files_csv"] += 1
    path = tmp_path / "people.csv"
    path.write_text(_csv_text(rows), encoding="utf-8", errors="surrogatepass")
    _read_all(path, "source_id", "profile")
    path.write_bytes(junk)
    _read_all(path, "source_id", "profile")
    gz = tmp_path / "people.csv.gz"
    gz.write_bytes(junk)  # not gzip at all
    _read_all(gz, "source_id", "profile")
    pqt = tmp_path / "people.parquet"
    pqt.write_bytes(junk)  # not Parquet at all
    _read_all(pqt, "source_id", "profile")


@SETTINGS
@given(st.lists(st.one_of(event_records, json_values), max_size=6), st.binary(max_size=120))
def test_files_jsonl(tmp_path: Path, rows: list[Any], junk: bytes) -> None:
    TRIED["files_jsonl"] += 1
    path = tmp_path / "events.jsonl"
    lines = [json.dumps(r) for r in rows] + [junk.decode("latin-1")]
    path.write_text("\n".join(lines), encoding="utf-8")
    _read_all(path, "source_event_id", "event")


@SETTINGS
@given(
    st.lists(
        st.dictionaries(
            st.sampled_from(
                ["source_id", "email", "traits.x", "consent.email", "properties", "ids.hubspot_id"]
            ),
            scalars,
            min_size=1,
        ),
        min_size=1,
        max_size=5,
    )
)
def test_files_parquet(tmp_path: Path, rows: list[dict[str, Any]]) -> None:
    TRIED["files_parquet"] += 1
    # Parquet columns are typed: hostile values arrive as text, as they would from a writer
    table = pa.Table.from_pylist(
        [{k: None if v is None else _utf8(str(v)) for k, v in r.items()} for r in rows]
    )
    path = tmp_path / "people.parquet"
    pq.write_table(table, path)
    _read_all(path, "source_id", "profile")


# ---- Segment: the files plugin's spec mapping, the archive mapping, the webhook ---------------

segment_messages = st.one_of(
    records(
        (
            "type",
            "messageId",
            "userId",
            "anonymousId",
            "previousId",
            "traits",
            "properties",
            "event",
            "name",
            "timestamp",
            "context",
        )
    ),
    st.fixed_dictionaries(
        {
            "type": st.sampled_from(["identify", "track", "page", "alias", "group", "delete"]),
            "messageId": hostile_text,
            "userId": scalars,
            "anonymousId": scalars,
            "timestamp": scalars,
            "event": st.one_of(st.sampled_from(["Order Completed", "Product Viewed"]), scalars),
            "traits": json_values,
            "properties": json_values,
            "context": json_values,
        }
    ),
)


@SETTINGS
@given(segment_messages)
def test_segment_spec_files_mapping(msg: dict[str, Any]) -> None:
    TRIED["segment_spec (files)"] += 1
    _through_validation(_mapped(spec_record, msg, True, "f.jsonl", "US"), "profile")
    _through_validation(_mapped(spec_record, msg, False, "f.jsonl", "US"), "event")


@SETTINGS
@given(segment_messages)
def test_segment_archive_mapping(msg: dict[str, Any]) -> None:
    TRIED["segment archive mapping"] += 1
    _through_validation(_mapped(profile_record, msg, region="US"), "profile")
    _through_validation(_mapped(event_record, msg, source_id="src", region="US"), "event")


@SETTINGS
@given(st.one_of(segment_messages.map(lambda m: json.dumps(m).encode()), st.binary(max_size=300)))
def test_segment_webhook_receiver(webhook: Any, body: bytes) -> None:
    from cdp_segment.webhook import sign

    TRIED["segment webhook"] += 1
    status, answer, _ = webhook.receive(body, sign(WEBHOOK_SECRET, body))
    # 503 "retry later" is the receiver's answer when its spool cannot commit in time (seen on
    # a loaded machine): Segment retries it, so it is a clear outcome, not a crash
    assert status in (200, 400, 503), answer
    unsigned, _, stored = webhook.receive(body, "deadbeef")
    assert unsigned == 401
    assert stored is None


WEBHOOK_SECRET = b"whsec-gauntlet"


@pytest.fixture(scope="module")
def webhook(tmp_path_factory: pytest.TempPathFactory) -> Any:
    from cdp_segment.webhook import WebhookReceiver

    with WebhookReceiver(tmp_path_factory.mktemp("hook") / "spool.db", WEBHOOK_SECRET) as rcv:
        yield rcv


# ---- platform payloads: HubSpot and Klaviyo source mapping ---------------------------------

hubspot_props = st.one_of(
    st.dictionaries(
        st.sampled_from(
            [
                "email",
                "phone",
                "firstname",
                "lastmodifieddate",
                "createdate",
                "hs_email_optout",
                "lifecyclestage",
                "amount",
                "closedate",
                "deal_currency_code",
                "zip",
                "country",
            ]
        ),
        scalars,
    ),
    st.dictionaries(hostile_text, json_values, max_size=4),
)


@SETTINGS
@given(
    hostile_text, hubspot_props, st.lists(st.integers(1, 10**12).map(str), min_size=1, max_size=3)
)
def test_hubspot_payload_mapping(rid: str, props: dict[str, Any], contacts: list[str]) -> None:
    TRIED["hubspot payload mapping"] += 1
    _through_validation(_mapped(contact_record, rid, props), "profile")
    _through_validation(_mapped(deal_record, rid, props, contacts), "event")


klaviyo_resources = st.one_of(
    records(("id", "type", "attributes", "relationships")),
    st.fixed_dictionaries(
        {
            "id": hostile_text,
            "type": st.just("profile"),
            "attributes": st.one_of(
                records(
                    (
                        "email",
                        "phone_number",
                        "external_id",
                        "location",
                        "properties",
                        "subscriptions",
                        "created",
                        "updated",
                        "datetime",
                        "event_properties",
                    )
                ),
                json_values,
            ),
            "relationships": json_values,
        }
    ),
)


@SETTINGS
@given(
    klaviyo_resources,
    st.sampled_from(sorted(EVENT_TYPES_BY_METRIC)),
    st.one_of(st.none(), klaviyo_resources),
)
def test_klaviyo_payload_mapping(resource: Any, metric: str, included: Any) -> None:
    TRIED["klaviyo payload mapping"] += 1
    _through_validation(_mapped(safe_map_profile, resource), "profile")
    _through_validation(_mapped(safe_map_event, resource, metric, included), "event")


# ---- configuration ----------------------------------------------------------------------------

toml_values = st.one_of(
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.booleans(),
    hostile_text.map(lambda s: json.dumps(s.encode("utf-8", "replace").decode("utf-8"))),
    st.just('{ env = "GAUNTLET_MISSING" }'),
    st.just("[1, 2, 3]"),
    st.just('"all"'),
    st.just('"-5h"'),
)
config_keys = st.sampled_from(
    [
        "plugin",
        "path",
        "lookback",
        "enabled",
        "segments",
        "traits",
        "consent_policy",
        "batch_size",
        "api_key",
        "access_token",
        "base_url",
        "format",
        "unknown_key",
    ]
)


@SETTINGS
@given(
    st.sampled_from(["sources", "destinations", "workspace", "identity", "sync", "model", "x"]),
    st.dictionaries(config_keys, toml_values, max_size=6),
    st.binary(max_size=80),
)
def test_config_loader(tmp_path: Path, table: str, body: dict[str, str], junk: bytes) -> None:
    TRIED["config loader"] += 1
    lines = [f"{k} = {v}" for k, v in body.items()]
    section = f"[{table}.one]" if table in ("sources", "destinations") else f"[{table}]"
    cfg = tmp_path / "connector.toml"
    for text in ("\n".join([section, *lines]) + "\n", junk.decode("latin-1")):
        cfg.write_text(text, encoding="utf-8")
        message = "loaded"
        try:
            load_config(cfg, env={"GAUNTLET_PRESENT": "x"})
        except ConfigError as exc:
            message = str(exc)
        assert message, "a config error says what is wrong"


@pytest.mark.long
@pytest.mark.slow
def test_hostile_inputs_in_depth() -> None:
    """The same properties with 75 examples per parser, times ``GAUNTLET_DEPTH`` (4 in
    benchmarks/reliability.py), in a subprocess, so counts add up."""
    depth = int(os.environ.get("GAUNTLET_DEPTH", "1"))
    env = {**os.environ, "GAUNTLET_EXAMPLES": str(75 * depth)}
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            __file__,
            "-q",
            "-p",
            "no:cacheprovider",
            "-m",
            "not slow",
            "-n",
            "0",  # one process: its figures add up in shared files
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=1200,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-4000:]


def test_parsers_were_exercised() -> None:
    """Guards against a strategy that silently generates nothing."""
    assert not TRIED or min(TRIED.values()) > 0


def test_gzip_jsonl_truncated_file_is_reported_not_fatal(tmp_path: Path) -> None:
    data = gzip.compress(b'{"source_id": "a", "email": "a@example.org"}\n' * 50)
    path = tmp_path / "people.jsonl.gz"
    path.write_bytes(data[: len(data) // 2])
    rows = list(read_file(path, "source_id"))
    assert rows[-1]["_invalid"] == "people.jsonl.gz: unreadable (EOFError)"
    assert all(r["email"] == "a@example.org" for r in rows[:-1])


# ---- issue 20: timestamps at the range's edges, nesting, encodings, CSV quoting ----------------


@SETTINGS
@given(edge_timestamps)
def test_timestamps_at_the_edges_of_the_datetime_range(raw: Any) -> None:
    TRIED["timestamps at the range's edges"] += 1
    try:
        value = parse_timestamp(raw)
    except SkippableError:
        return
    assert value.utcoffset() is not None
    assert not value.utcoffset()
    _through_validation(
        {"source_event_id": "e", "type": "page_viewed", "occurred_at": raw, "ids": {"x": "1"}},
        "event",
    )


@SETTINGS
@given(st.lists(nesting, min_size=1, max_size=4))
def test_nesting_depth_in_jsonl_and_the_segment_archive(tmp_path: Path, texts: list[str]) -> None:
    TRIED["JSON nesting depth"] += 1
    good = json.dumps({"source_event_id": "g", "type": "page_viewed", "occurred_at": "2025-01-01"})
    lines = [
        good,
        *(
            f'{{"source_event_id": "n{i}", "properties": {{"p": {t}}}}}'
            for i, t in enumerate(texts)
        ),
    ]
    path = tmp_path / "events.jsonl"
    path.write_text("\n".join(lines) + "\n")
    rows = list(read_file(path, "source_event_id"))
    assert len(rows) == len(lines)  # one record or one quarantine per line, nothing lost
    for rec in rows:
        _through_validation(rec, "event")
    folder = tmp_path / "segment-logs" / "SRC" / "1740873600000"
    folder.mkdir(parents=True, exist_ok=True)
    msgs = [
        f'{{"type":"track","event":"X","userId":"u","messageId":"m{i}","properties":{{"p":{t}}}}}'
        for i, t in enumerate(texts)
    ]
    (folder / "a.gz").write_bytes(gzip.compress("\n".join(msgs).encode()))
    store = ArchiveStore(str(tmp_path))
    out = list(
        read_archive(store, since=None, late_days=0, source_ids=(), mapper=event_mapper("US"))
    )
    assert len(out) == len(msgs)
    for rec in out:
        _through_validation(rec, "event")


@SETTINGS
@given(
    st.lists(odd_identifiers, min_size=1, max_size=5),
    encodings,
    st.booleans(),
    st.sampled_from(["csv", "jsonl"]),
)
def test_encodings_never_merge_on_a_replacement_character(
    tmp_path: Path, emails: list[str], encoding: str, junk: bool, fmt: str
) -> None:
    TRIED["encodings (latin-1, BOM, invalid bytes, full width, IDN)"] += 1
    if fmt == "csv":
        text = "source_id,email\n" + "".join(f"{i},{e}\n" for i, e in enumerate(emails))
    else:
        text = "".join(
            json.dumps({"source_id": str(i), "email": e}) + "\n" for i, e in enumerate(emails)
        )
    data = text.encode(encoding, "replace")
    if junk:
        data += b"99,\xff\xfe\xe9@example.org\n"
    path = tmp_path / f"people.{fmt}"
    path.write_bytes(data)
    for declared in ("utf-8", encoding):
        for rec in read_file(path, "source_id", InputLimits(encoding=declared)):
            if "_invalid" in rec:
                assert "@" not in str(rec["_invalid"])  # a reason never quotes the address
                continue
            try:
                prof = validate_profile(rec, source="t", region="US")
            except SkippableError:
                continue
            assert "\ufffd" not in (prof.email or "")
            assert all("\ufffd" not in v for v in prof.ids.values())


def _quoted_csv(rows: list[list[str]], stray: tuple[int, int] | None) -> str:
    lines = []
    for n, row in enumerate(rows):
        cells = list(row)
        if stray is not None and n == stray[0]:
            cells[stray[1]] = '"' + cells[stray[1]]
        lines.append(",".join(cells))
    return "source_id,email,first_name\n" + "\n".join(lines) + "\n"


@SETTINGS
@given(
    st.lists(st.text(alphabet="abcdefgh ij", min_size=1, max_size=8), min_size=2, max_size=40),
    st.data(),
)
def test_csv_stray_quote_costs_at_most_its_own_row(
    tmp_path: Path, names: list[str], data: st.DataObject
) -> None:
    TRIED["CSV quoting"] += 1
    rows = [[str(i), f"p{i}@example.org", name] for i, name in enumerate(names)]
    at = data.draw(st.integers(0, len(rows) - 1))
    stray = (at, data.draw(st.integers(0, 2)))
    path = tmp_path / "people.csv"
    path.write_text(_quoted_csv(rows, stray))
    out = list(read_file(path, "source_id"))
    good = {r["source_id"]: r for r in out if "_invalid" not in r}
    for i, row in enumerate(rows):
        if i != at:
            assert good[str(i)]["email"] == row[1], (i, at)
    assert len([r for r in out if "_invalid" in r]) <= 1
