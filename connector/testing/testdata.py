"""Data for model tests and benchmarks: a deterministic generator and public dataset loaders.

The generator draws buy-till-you-die behaviour (Gamma purchase rates, dropout after purchases)
plus engagement events and product categories, vectorised in numpy and turned into the store's
`events` / `profiles` tables by DuckDB, so 10M events take seconds, not minutes.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa

CATEGORIES = (
    "Shoes", "Outerwear", "Dresses", "Accessories", "Beauty", "Home", "Kids", "Sport",
    "Bags", "Jewellery", "Gifts", "Sale",
)  # fmt: skip
_ENGAGE = ("email_opened", "email_clicked", "product_viewed", "session_started", "page_viewed")

EVENTS_DDL = """CREATE TABLE events(event_id VARCHAR, profile_id VARCHAR, type VARCHAR,
  occurred_at TIMESTAMP, revenue DOUBLE, currency VARCHAR, properties VARCHAR, source VARCHAR)"""
PROFILES_DDL = """CREATE TABLE profiles(profile_id VARCHAR, created_at TIMESTAMP, country VARCHAR,
  consent_email VARCHAR, consent_sms VARCHAR, consent_ads VARCHAR)"""


def generate(
    con: duckdb.DuckDBPyConnection,
    *,
    n_profiles: int,
    events_per_profile: float = 10.0,
    end: datetime = datetime(2025, 1, 1),
    days: int = 730,
    seed: int = 0,
) -> None:
    """Create `profiles` and `events` in `con` with about n_profiles * events_per_profile rows."""
    rng = np.random.default_rng(seed)
    n = n_profiles
    start = rng.uniform(0, days, n)  # signup day offset from (end - days)
    rate = rng.gamma(0.6, 1 / 25.0, n)  # purchases per day while alive
    p_drop = rng.beta(0.8, 3.0, n)
    buyer = rng.random(n) < 0.55
    # Alive span: geometric number of purchases before dropout ~ exponential time.
    life = np.minimum(rng.exponential(1.0 / np.maximum(rate * p_drop, 1e-4)), days)
    end_alive = np.minimum(start + life, days)
    n_orders = np.where(buyer, 1 + rng.poisson(rate * (end_alive - start)), 0)
    eng_budget = np.maximum(events_per_profile - n_orders.mean(), 0.5)
    n_eng = rng.poisson(eng_budget, n)
    spend = rng.lognormal(3.8, 0.5, n)
    fav = rng.integers(0, len(CATEGORIES), n)
    # Orders: uniform times within the alive span (first one at the start).
    o_pid = np.repeat(np.arange(n), n_orders)
    first = np.r_[0, np.cumsum(n_orders)[:-1]]
    is_first = np.zeros(len(o_pid), bool)
    is_first[first[n_orders > 0]] = True
    o_t = start[o_pid] + rng.random(len(o_pid)) * (end_alive - start)[o_pid] * ~is_first
    o_rev = np.round(spend[o_pid] * rng.lognormal(0, 0.3, len(o_pid)), 2)
    o_cat = np.where(rng.random(len(o_pid)) < 0.6, fav[o_pid], rng.integers(0, 12, len(o_pid)))
    e_pid = np.repeat(np.arange(n), n_eng)
    e_t = start[e_pid] + rng.random(len(e_pid)) * np.minimum(
        (end_alive - start)[e_pid] + 60, days - start[e_pid]
    )
    e_type = rng.integers(0, len(_ENGAGE), len(e_pid))
    e_cat = np.where(rng.random(len(e_pid)) < 0.5, fav[e_pid], rng.integers(0, 12, len(e_pid)))
    base = end - timedelta(days=days)
    tab = pa.table(
        {
            "pid": np.r_[o_pid, e_pid],
            "t": np.r_[o_t, e_t],
            "k": np.r_[np.full(len(o_pid), -1), e_type],
            "rev": np.r_[o_rev, np.zeros(len(e_pid))],
            "cat": np.r_[o_cat, e_cat],
        }
    )
    cats = pa.table({"ci": np.arange(len(CATEGORIES)), "cname": list(CATEGORIES)})
    kinds = pa.table({"ki": np.arange(-1, len(_ENGAGE)), "kname": ["order_completed", *_ENGAGE]})
    prof = pa.table({"pid": np.arange(n), "start": start})
    con.register("_gen_ev", tab)
    con.register("_gen_cat", cats)
    con.register("_gen_kind", kinds)
    con.register("_gen_prof", prof)
    con.execute(EVENTS_DDL)
    con.execute(PROFILES_DDL)
    con.execute(
        """INSERT INTO profiles SELECT 'p' || lpad(pid::VARCHAR, 8, '0'),
             $1::TIMESTAMP + to_microseconds((start * 86400e6)::BIGINT),
             CASE pid % 3 WHEN 0 THEN 'GB' WHEN 1 THEN 'US' ELSE 'DE' END,
             'granted', 'unknown', CASE WHEN pid % 4 = 0 THEN 'denied' ELSE 'granted' END
           FROM _gen_prof""",
        [base],
    )
    con.execute(
        """INSERT INTO events SELECT 'e' || row_number() OVER () AS event_id,
             'p' || lpad(pid::VARCHAR, 8, '0'), kname,
             $1::TIMESTAMP + to_microseconds((t * 86400e6)::BIGINT),
             CASE WHEN k = -1 THEN rev END, CASE WHEN k = -1 THEN 'EUR' END,
             CASE WHEN k = -1 OR kname = 'product_viewed' THEN
               '{"products":[{"id":"sku' || (cat * 7 + pid % 7) || '","name":"Item","category":"'
               || cname || '","price":' || rev || ',"quantity":1}]}' END,
             'synthetic'
           FROM _gen_ev JOIN _gen_cat ON cat = ci JOIN _gen_kind ON k = ki""",
        [base],
    )
    for name in ("_gen_ev", "_gen_cat", "_gen_kind", "_gen_prof"):
        con.unregister(name)


def load_transactions(con: duckdb.DuckDBPyConnection, tx: pd.DataFrame) -> None:
    """Create `events` (order_completed) and `profiles` from (customer_id, date, revenue), with
    an optional `products` column: the order's properties JSON, as the store keeps it."""
    frame = pd.DataFrame(
        {
            "profile_id": tx["customer_id"].astype(str),
            "occurred_at": pd.to_datetime(tx["date"]).astype("datetime64[us]"),
            "revenue": tx["revenue"].astype(float),
            "properties": tx["products"] if "products" in tx else None,
        }
    ).astype({"properties": "string"})
    con.register("_tx", pa.Table.from_pandas(frame, preserve_index=False))
    con.execute(EVENTS_DDL)
    con.execute(PROFILES_DDL)
    con.execute(
        """INSERT INTO events SELECT 'e' || row_number() OVER (), profile_id, 'order_completed',
             occurred_at, revenue, 'USD', properties, 'dataset' FROM _tx"""
    )
    con.execute(
        """INSERT INTO profiles SELECT profile_id, min(occurred_at), NULL, 'unknown', 'unknown',
             'unknown' FROM _tx GROUP BY profile_id"""
    )
    con.unregister("_tx")


def read_cdnow(path: Path) -> pd.DataFrame:
    """CDNOW master or sample file as (customer_id, date, revenue, products): each row is one
    order of `quantity` CDs (the file does not name them)."""
    sample = "sample" in path.name.lower()
    raw = pd.read_csv(path, sep=r"\s+", header=None, skiprows=0 if sample else 1, dtype=str)
    cid, date, cds, dollars = (0, 2, 3, 4) if sample else (0, 1, 2, 3)
    return pd.DataFrame(
        {
            "customer_id": raw[cid],
            "date": pd.to_datetime(raw[date], format="%Y%m%d"),
            "revenue": raw[dollars].astype(float),
            "products": '{"products": [{"quantity": ' + raw[cds].astype(int).astype(str) + "}]}",
        }
    )


def read_online_retail(path: Path, *, returns: bool = False) -> pd.DataFrame:
    """UCI Online Retail cleaned for transaction models (customer present, no cancellations,
    positive quantity and price) as (customer_id, date, revenue, products) per invoice.

    ``returns=True`` keeps the cancelled invoices (InvoiceNo "C…", negative quantities) as
    invoices with negative revenue, as a shop's export would hand them to us."""
    raw = pd.read_csv(path, dtype={"InvoiceNo": str, "StockCode": str, "CustomerID": str})
    raw = raw[raw["CustomerID"].notna() & (raw["UnitPrice"] > 0)]
    if returns:
        raw = raw[raw["Quantity"] != 0]
    else:
        raw = raw[~raw["InvoiceNo"].str.startswith("C") & (raw["Quantity"] > 0)]
    raw = raw.assign(
        revenue=raw["Quantity"] * raw["UnitPrice"],
        date=pd.to_datetime(raw["InvoiceDate"]),
        customer_id=raw["CustomerID"].str.replace(".0", "", regex=False),
    )
    raw["line"] = (
        '{"id": '
        + raw["StockCode"].map(json.dumps)
        + ', "quantity": '
        + raw["Quantity"].abs().astype(int).astype(str)
        + "}"
    )
    inv = raw.groupby(["customer_id", "InvoiceNo"], as_index=False).agg(
        date=("date", "min"), revenue=("revenue", "sum"), lines=("line", ", ".join)
    )
    inv["products"] = '{"products": [' + inv["lines"] + "]}"
    return inv[["customer_id", "date", "revenue", "products"]]
