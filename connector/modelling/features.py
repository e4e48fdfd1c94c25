"""Profile features as of a cutoff, computed in SQL over the data store.

Everything is a plain aggregate over `events` and `profiles`, so the same SQL runs in a warehouse
(that is the scale-out path); results come back through Arrow. Only events strictly before the
cutoff count, which is what makes the time-split training leak-free: features at T - H never
see the label window [T - H, T). Consent columns are never selected. Orders are seen net of
returns and refunds issued before the cutoff (`connector.modelling.orders`); product lists
parsed once per run stay unnetted and join each cutoff's netted orders by `event_id`, so a
refund in the label window never reaches the training features.
"""

from __future__ import annotations

import re
from datetime import datetime

import duckdb
import pandas as pd

from connector.modelling.orders import netted_events_sql

ENGAGEMENT_TYPES = (
    "email_opened",
    "email_clicked",
    "product_viewed",
    "added_to_cart",
    "checkout_started",
    "page_viewed",
    "session_started",
)
WINDOWS = (30, 90, 365)

_ORDER_FEATURES = (
    "recency_days",
    "frequency",
    "orders",
    "monetary",
    "aov",
    "revenue_total",
    "tenure_days",
    "customer_age_days",
    "inter_purchase_days",
)
_WINDOW_FEATURES = (*(f"orders_{w}d" for w in WINDOWS), *(f"revenue_{w}d" for w in WINDOWS))
# Recency, frequency, monetary value and their windows: all a transaction log alone gives.
RFM_FEATURES = (*_ORDER_FEATURES, *_WINDOW_FEATURES)
BASKET_FEATURES = ("items_per_order", "units_per_order", "unit_price")
# Columns the classifiers and clusters may use; identifiers and dates are excluded.
BASE_FEATURES = (
    *_ORDER_FEATURES,
    *BASKET_FEATURES,
    *_WINDOW_FEATURES,
    *(f"eng_{t}" for t in ENGAGEMENT_TYPES),
    "days_since_engagement",
)

_PRODUCTS_TYPE = '[{"category":"VARCHAR","quantity":"DOUBLE"}]'
# The products JSON of an event, or NULL when the properties are not valid JSON to DuckDB (a
# lone surrogate escape that Python wrote, say): one such event must not fail every model run.
_PRODUCTS = "json_extract(CASE WHEN json_valid(properties) THEN properties END, '$.products')"


def _quantity(item: str) -> str:
    """A line's quantity; missing, zero, negative, tiny or absurd counts as 1, so one bad line
    cannot dominate a basket or a category share (fractions such as 0.5 kg stay)."""
    q = f"{item}.quantity"
    return f"CASE WHEN {q} >= 0.001 AND {q} <= 1e6 THEN {q} ELSE 1 END"


_BASKET_TYPE = '[{"quantity":"DOUBLE"}]'


def _basket_rows(source: str, cutoff: str, keep: str) -> str:
    """One row per order in `source` before `cutoff` that lists its products: the `keep`
    columns, its lines and units (see `_quantity`)."""
    return f"""
    SELECT {keep}, len(b) AS lines,
           list_sum(list_transform(b, lambda x: {_quantity("x")})) AS units
    FROM (SELECT {keep}, from_json({_PRODUCTS}, '{_BASKET_TYPE}') AS b
          FROM {source} WHERE type = 'order_completed' AND properties IS NOT NULL
            AND occurred_at < {cutoff})
    WHERE len(b) > 0"""


def category_column(category: str) -> str:
    """Feature name of a category's affinity share (a safe identifier)."""
    slug = re.sub(r"[^0-9a-z]+", "_", category.lower()).strip("_")[:40] or "other"
    return f"cat_{slug}"


def items_sql() -> str:
    """(event_id, profile_id, occurred_at, category, n) of the product lines of every order and
    view before $1, as the events hold them: not netted, since a run reuses the parsed lines at
    earlier cutoffs, each of which nets its own orders (`_items_sql`)."""
    return f"""
        SELECT event_id, profile_id, occurred_at, it.category AS category, {_quantity("it")} AS n
        FROM (SELECT event_id, profile_id, occurred_at,
                     unnest(from_json({_PRODUCTS},
                                      '{_PRODUCTS_TYPE}')) AS it
              FROM events WHERE type IN ('order_completed', 'product_viewed')
                AND properties IS NOT NULL AND occurred_at < $1::TIMESTAMP)
        WHERE it.category IS NOT NULL AND it.category <> ''"""


def baskets_sql() -> str:
    """(event_id, lines, units) of every order before $1 that lists products, as the events
    hold them: not netted, for the same reason as `items_sql` (`_baskets_sql` nets)."""
    return _basket_rows("events", "$1::TIMESTAMP", "event_id")


def materialise_items(con: duckdb.DuckDBPyConnection, cutoff: datetime, name: str) -> str:
    """Parse the product lists of orders and views before `cutoff` once into a temp table
    (`items_sql`) shared by every feature cutoff of a run."""
    con.execute(f"CREATE OR REPLACE TEMP TABLE {name} AS {items_sql()}", [cutoff])
    return name


def materialise_baskets(con: duckdb.DuckDBPyConnection, cutoff: datetime, name: str) -> str:
    """Parse the product lists of orders before `cutoff` once into a temp table
    (`baskets_sql`) shared by every feature cutoff of a run."""
    con.execute(f"CREATE OR REPLACE TEMP TABLE {name} AS {baskets_sql()}", [cutoff])
    return name


def top_categories(
    con: duckdb.DuckDBPyConnection, cutoff: datetime, n: int, items_table: str | None = None
) -> list[str]:
    """The n most frequent product categories before the cutoff (ties broken by name)."""
    if n == 0:
        return []
    rows = con.execute(top_categories_sql(items_table), [cutoff, n]).fetchall()
    return [str(r[0]) for r in rows]


def top_categories_sql(items_table: str | None = None) -> str:
    """The query of `top_categories` ($1 the cutoff, $2 how many), over `items_table` (from
    `materialise_items`) or the raw events."""
    if items_table:
        return f"""SELECT category AS c, count(*) AS n FROM {items_table}
                WHERE occurred_at < $1 GROUP BY 1 ORDER BY n DESC, c LIMIT $2"""
    return f"""
        WITH p AS (
          SELECT unnest(from_json({_PRODUCTS},
                                  '{_PRODUCTS_TYPE}')) AS item
          FROM events
          WHERE type IN ('order_completed', 'product_viewed') AND occurred_at < $1
            AND properties IS NOT NULL)
        SELECT item.category AS c, count(*) AS n FROM p
        WHERE item.category IS NOT NULL AND item.category <> ''
        GROUP BY 1 ORDER BY n DESC, c LIMIT $2
        """


def _items_sql(categories: list[str], items_table: str | None) -> str:
    """(profile_id, category, n) of the products of the views and the orders before the cutoff
    that count as purchases there: an order refunded or cancelled in full before the cutoff is
    no purchase, so its products are no purchased affinity, as for the order count; a return
    line is not one either; a refund after the cutoff is not known yet. Parsed lines
    (`items_table`) join the cutoff's netted events `ev` by event id, so both paths agree."""
    if not categories:
        return "SELECT NULL::VARCHAR AS profile_id, NULL::VARCHAR AS category, 0 AS n LIMIT 0"
    if items_table:
        return f"""SELECT i.profile_id, i.category, i.n
            FROM {items_table} i JOIN ev ON ev.event_id = i.event_id"""
    return f"""
      SELECT profile_id, it.category AS category, {_quantity("it")} AS n
      FROM (SELECT profile_id,
                   unnest(from_json({_PRODUCTS},
                                    '{_PRODUCTS_TYPE}')) AS it
            FROM ev WHERE type IN ('order_completed', 'product_viewed')
              AND properties IS NOT NULL)
      WHERE it.category IS NOT NULL AND it.category <> ''"""


def _baskets_sql(baskets_table: str | None) -> str:
    """One row per order before the cutoff that counts there (see `_items_sql`): product
    lines, units, and its revenue net of the refunds before the cutoff."""
    keep = "profile_id, occurred_at, revenue"
    if baskets_table:
        return f"""SELECT ev.profile_id, ev.occurred_at, ev.revenue, b.lines, b.units
            FROM {baskets_table} b JOIN ev ON ev.event_id = b.event_id"""
    return _basket_rows("ev", "$1::TIMESTAMP", keep)


def _order_windows() -> str:
    return ",\n".join(
        f"count(*) FILTER (WHERE age_days < {w}) AS orders_{w}d,"
        f" coalesce(sum(revenue) FILTER (WHERE age_days < {w}), 0) AS revenue_{w}d"
        for w in WINDOWS
    )


def _decayed_engagement(half_life_days: float) -> str:
    decay = f"exp(-ln(2) * age_days / {float(half_life_days)!r})"
    return ",\n".join(
        f"coalesce(sum({decay}) FILTER (WHERE type = '{t}'), 0) AS eng_{t}"
        for t in ENGAGEMENT_TYPES
    )


def _category_shares(categories: list[str]) -> str:
    """Each category's share of a profile's product lines (category i is parameter i + 2)."""
    return ",\n".join(
        f"coalesce(sum(n) FILTER (WHERE category = ${i + 2}), 0)"
        f" / greatest(sum(n), 1) AS {category_column(c)}"
        for i, c in enumerate(categories)
    )


def _feature_select(categories: list[str]) -> str:
    """The final select over the per-profile CTEs of `feature_sql`: one row per profile."""
    cat_select = f", {', '.join(category_column(c) for c in categories)}" if categories else ""
    return f"""
    SELECT base.profile_id,
           coalesce(date_diff('second', base.started_at, $1::TIMESTAMP) / 86400.0, 0)
             AS tenure_days,
           coalesce(b.frequency, 0)::DOUBLE AS frequency,
           coalesce(b.t_x, 0)::DOUBLE AS t_x,
           coalesce(b.T, 0)::DOUBLE AS T,
           coalesce(b.T, 0)::DOUBLE AS customer_age_days,
           coalesce(b.monetary, 0)::DOUBLE AS monetary,
           coalesce(o.orders, 0)::DOUBLE AS orders,
           coalesce(o.revenue_total, 0)::DOUBLE AS revenue_total,
           CASE WHEN o.orders > 0 THEN o.revenue_total / o.orders ELSE 0 END AS aov,
           o.recency_days,
           CASE WHEN b.frequency > 0 THEN b.t_x / b.frequency END AS inter_purchase_days,
           {", ".join(f"coalesce(o.orders_{w}d, 0)::DOUBLE AS orders_{w}d" for w in WINDOWS)},
           {", ".join(f"coalesce(o.revenue_{w}d, 0)::DOUBLE AS revenue_{w}d" for w in WINDOWS)},
           {", ".join(f"coalesce(e.eng_{t}, 0) AS eng_{t}" for t in ENGAGEMENT_TYPES)},
           k.items_per_order, k.units_per_order, k.unit_price,
           e.days_since_engagement {cat_select}
    FROM base
    LEFT JOIN orders o USING (profile_id)
    LEFT JOIN btyd b USING (profile_id)
    LEFT JOIN eng e USING (profile_id)
    LEFT JOIN basket k USING (profile_id)
    LEFT JOIN cats c USING (profile_id)
    WHERE base.started_at IS NOT NULL AND base.started_at < $1::TIMESTAMP
    ORDER BY base.profile_id
    """


def feature_sql(
    categories: list[str],
    half_life_days: float,
    items_table: str | None,
    baskets_table: str | None,
    scope: str | None = None,
) -> str:
    """The feature query ($1 the cutoff, $2.. the categories); with `scope` (a table of
    profile ids) only those profiles' rows, each what the whole store gives it (every aggregate
    is per profile)."""
    within = f"profile_id IN (SELECT profile_id FROM {scope})" if scope else ""
    win, eng = _order_windows(), _decayed_engagement(half_life_days)
    items_sql, baskets_sql = _items_sql(categories, items_table), _baskets_sql(baskets_table)
    cat_cols = _category_shares(categories)
    return f"""
    WITH ev AS (
      SELECT event_id, profile_id, type, revenue, properties, occurred_at,
             date_diff('second', occurred_at, $1::TIMESTAMP) / 86400.0 AS age_days
      FROM ({netted_events_sql("$1::TIMESTAMP", scope=within)}) netted),
    orders AS (
      SELECT profile_id, count(*) AS orders, coalesce(sum(revenue), 0) AS revenue_total,
             min(age_days) AS recency_days, {win}
      FROM ev WHERE type = 'order_completed' GROUP BY profile_id),
    days AS (
      SELECT profile_id, date_trunc('day', occurred_at) AS d, coalesce(sum(revenue), 0) AS rev
      FROM ev WHERE type = 'order_completed' GROUP BY 1, 2),
    btyd AS (
      SELECT profile_id, count(*) - 1 AS frequency,
             date_diff('day', min(d), max(d)) AS t_x,
             date_diff('day', min(d), date_trunc('day', $1::TIMESTAMP)) AS T,
             min(d) AS first_purchase_day,
             CASE WHEN count(*) > 1 THEN (sum(rev) - arg_min(rev, d)) / (count(*) - 1)
                  ELSE 0 END AS monetary
      FROM days GROUP BY profile_id),
    eng AS (
      SELECT profile_id, min(age_days) AS days_since_engagement, {eng}
      FROM ev WHERE type <> 'order_completed' GROUP BY profile_id),
    items AS ({items_sql}),
    baskets AS ({baskets_sql}),
    basket AS (
      SELECT profile_id, avg(lines) AS items_per_order, avg(units) AS units_per_order,
             sum(revenue) / nullif(sum(units) FILTER (WHERE revenue IS NOT NULL), 0)
               AS unit_price
      FROM baskets GROUP BY profile_id),
    cats AS (
      SELECT profile_id {"," if categories else ""} {cat_cols}
      FROM items GROUP BY profile_id),
    firsts AS (SELECT profile_id, min(occurred_at) AS first_seen FROM ev GROUP BY profile_id),
    base AS (
      SELECT coalesce(p.profile_id, f.profile_id) AS profile_id,
             least(coalesce(p.created_at, f.first_seen), coalesce(f.first_seen, p.created_at))
               AS started_at
      FROM (SELECT profile_id, created_at FROM profiles WHERE (created_at < $1::TIMESTAMP
               OR created_at IS NULL) {f"AND {within}" if scope else ""}) p
      FULL OUTER JOIN firsts f ON p.profile_id = f.profile_id)
    {_feature_select(categories)}"""


def compute_features(
    con: duckdb.DuckDBPyConnection,
    cutoff: datetime,
    *,
    categories: list[str],
    half_life_days: float = 30.0,
    items_table: str | None = None,
    baskets_table: str | None = None,
    scope: str | None = None,
) -> pd.DataFrame:
    """One row per profile known before `cutoff` (sorted by profile_id), with BASE_FEATURES,
    the BTYD summary (frequency, t_x, T, monetary in days) and category shares.
    Recency and engagement ages are NaN for profiles that never ordered / engaged, basket
    features (items and units per order, unit price) for those whose orders list no products.
    `items_table` and `baskets_table` (from `materialise_items` / `materialise_baskets`) save
    re-parsing product JSON for each cutoff; `scope` (a table of profile ids) limits the rows to
    those profiles (`connector.modelling.feature_cache`)."""
    sql = feature_sql(categories, half_life_days, items_table, baskets_table, scope)
    rel = con.sql(sql, params=[cutoff, *categories])
    if rel is None:  # a SELECT always yields a relation; guard for the type checker
        raise RuntimeError("feature query returned no relation")
    return tidy_features(rel.to_arrow_table().to_pandas())


def tidy_features(frame: pd.DataFrame) -> pd.DataFrame:
    """The feature query's rows as every engine hands them on: string ids, zero shares for
    profiles without products, floats rounded to 6 decimals."""
    frame["profile_id"] = frame["profile_id"].astype(str)
    for col in (c for c in frame.columns if c.startswith("cat_")):
        frame[col] = frame[col].fillna(0.0)
    # DuckDB sums floats in parallel, in no fixed order, so the last bits can differ between
    # runs; rounding makes the features (and every model downstream) reproducible.
    floats = frame.select_dtypes("float").columns
    frame[floats] = frame[floats].round(6)
    out: pd.DataFrame = frame.reset_index(drop=True)
    return out


def feature_columns(frame: pd.DataFrame) -> list[str]:
    """The model-usable columns of a feature frame, in a stable order."""
    cats = sorted(c for c in frame.columns if c.startswith("cat_"))
    return [c for c in BASE_FEATURES if c in frame.columns] + cats
