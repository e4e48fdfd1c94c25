"""Orders net of returns, refunds and cancellations, as every order aggregate should see them.

Three things take money back from an order (issue 16 item 5):
- a refund or cancellation event (``order_refunded`` / ``order_cancelled``, as the Klaviyo and
  HubSpot sources emit them) naming the order in ``properties.order_id``, with ``revenue`` the
  amount taken back (positive) or null for the whole order;
- an ``order_completed`` with negative revenue (a return line or cancelled invoice, as in UCI
  Online Retail), against the order its ``properties.order_id`` names;
- either of them without a known order id, against the person's latest order before it (of
  two orders at the same moment, the one with the greater event id, so the match never depends
  on the order rows are read in).

An order refunded in full is no purchase at all (it neither counts as a transaction nor adds a
purchase day); a partly refunded one keeps the rest of its revenue. Returns never make revenue
negative: what exceeds the order is dropped. Only what happened before the cutoff counts, so
features at T - H never see a refund issued in the label window.
"""

from __future__ import annotations

__all__ = ["REFUND_TYPES", "netted_events_sql", "purchase_filter"]

REFUND_TYPES = ("order_refunded", "order_cancelled")
_REFUNDS = ", ".join(f"'{t}'" for t in REFUND_TYPES)
_OID = (
    "CASE WHEN properties IS NOT NULL AND json_valid(properties) "
    "THEN json_extract_string(properties, '$.order_id') END"
)


def purchase_filter(alias: str = "") -> str:
    """SQL condition for an event that can be a purchase (not a return line)."""
    p = f"{alias}." if alias else ""
    return f"{p}type = 'order_completed' AND coalesce({p}revenue, 0) >= 0"


def netted_events_sql(before: str, *, inclusive: bool = False, scope: str = "") -> str:
    """A SELECT of (event_id, profile_id, type, revenue, properties, occurred_at) over the events
    before `before` (a SQL expression; `inclusive` for <=), with orders netted and refund events
    and return lines removed; `scope` (a SQL condition on the events) keeps some profiles only
    (netting never crosses profiles, so their rows are what the whole store gives them).
    `event_id` (the events table's key) lets product lists parsed once per run join the orders
    a cutoff's netting keeps (`connector.modelling.features`)."""
    op = "<=" if inclusive else "<"
    return f"""
    WITH raw AS (
      SELECT event_id, profile_id, type, revenue, properties, occurred_at FROM events
      WHERE occurred_at {op} {before} {f"AND ({scope})" if scope else ""}),
    ords AS (
      SELECT event_id, profile_id, type, revenue, properties, occurred_at, {_OID} AS oid
      FROM raw WHERE type = 'order_completed' AND coalesce(revenue, 0) >= 0),
    rets AS (
      SELECT profile_id, occurred_at, {_OID} AS oid,
             CASE WHEN type = 'order_completed' THEN -revenue ELSE abs(revenue) END AS amount
      FROM raw WHERE type IN ({_REFUNDS}) OR (type = 'order_completed' AND revenue < 0)),
    by_id AS (
      SELECT o.event_id, r.amount, r.profile_id, r.occurred_at, r.oid FROM rets r
      JOIN ords o ON o.profile_id = r.profile_id AND o.oid = r.oid),
    loose_at AS (
      SELECT r.profile_id, o.occurred_at AS matched_at, r.amount FROM rets r
      ASOF JOIN ords o ON o.profile_id = r.profile_id AND r.occurred_at >= o.occurred_at
      WHERE NOT EXISTS (
        SELECT 1 FROM by_id b WHERE b.profile_id = r.profile_id AND b.oid = r.oid
          AND b.occurred_at = r.occurred_at)),
    latest AS (
      SELECT profile_id, occurred_at AS matched_at, max(event_id) AS event_id FROM ords
      GROUP BY profile_id, occurred_at),
    loose AS (
      SELECT l.event_id, a.amount FROM loose_at a JOIN latest l USING (profile_id, matched_at)),
    adj AS (
      SELECT event_id, sum(amount) AS refunded, bool_or(amount IS NULL) AS whole
      FROM (SELECT event_id, amount FROM by_id UNION ALL SELECT event_id, amount FROM loose)
      GROUP BY event_id)
    SELECT event_id, profile_id, type, revenue, properties, occurred_at FROM raw
    WHERE type NOT IN ('order_completed', {_REFUNDS})
    UNION ALL
    SELECT o.event_id, o.profile_id, o.type,
           CASE WHEN a.refunded IS NULL THEN o.revenue
                ELSE greatest(coalesce(o.revenue, 0) - a.refunded, 0) END AS revenue,
           o.properties, o.occurred_at
    FROM ords o LEFT JOIN adj a USING (event_id)
    WHERE NOT coalesce(a.whole, false)
      AND NOT (a.refunded IS NOT NULL AND a.refunded >= coalesce(o.revenue, 0))"""
