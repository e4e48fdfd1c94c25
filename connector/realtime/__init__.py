"""``connector stream``: live events in, real-time segment memberships out within seconds.

Tail the live sources (``feeds``), store and resolve each event (``ingest``), re-evaluate the
real-time rule segments of the profiles touched (``connector.modelling.realtime_rules``),
deliver what changed in micro-batches through the batch run's planner, ledger, consent rules
and holdouts (``deliver``), and only then commit how far each source was read (``session``).
"""

from connector.realtime.session import StreamSummary, run_stream

__all__ = ["StreamSummary", "run_stream"]
