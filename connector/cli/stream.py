"""``connector stream``: real-time segments, delivered within seconds of the events.

It runs next to ``connector listen`` (which stores Segment's webhooks) and ``connector schedule``
(which still pulls, unifies and retrains): the stream and a scheduled run share the run lock,
and the stream hands it over whenever a run is waiting (``connector.runctl.lock``).
"""

from __future__ import annotations

import signal
from types import FrameType
from typing import Annotated

import typer

from connector.cli.common import ConfigOpt, LogFormatOpt, SecretsOpt, console, handle_errors, load
from connector.runctl.stop import request_stop

__all__ = ["stream"]


@handle_errors
def stream(
    config: ConfigOpt = None,
    secrets: SecretsOpt = None,
    log_format: LogFormatOpt = None,
    health_port: Annotated[
        int | None, typer.Option(help="Serve GET /healthz on this port (127.0.0.1).")
    ] = None,
    health_host: Annotated[str, typer.Option(help="Interface of the health endpoint.")] = (
        "127.0.0.1"
    ),
) -> None:
    """Tail live events, re-evaluate real-time rule segments, deliver changes until SIGTERM.

    SIGTERM or Ctrl-C delivers what was read, commits, and exits 0.
    """
    from connector.realtime.session import StreamOptions, run_stream
    from connector.workspace import Workspace

    cfg = load(config, secrets, log_format)

    def _stop(signum: int, _frame: FrameType | None) -> None:
        request_stop()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)

    def ready(run_id: str, health: str | None) -> None:
        where = f"; health on {health}" if health else ""
        console.print(f"streaming as {run_id}{where} (SIGTERM or Ctrl-C stops)", highlight=False)

    ws = Workspace(cfg)
    try:
        summary = run_stream(ws, StreamOptions(health_host, health_port, ready))
    finally:
        ws.close()
    totals = summary.totals
    console.print(
        f"stream stopped: {totals.get('events', 0)} events, "
        f"{totals.get('membership_changes', 0)} membership changes",
        highlight=False,
    )
