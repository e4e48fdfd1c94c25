"""``connector demo``: the whole run twice, offline, on bundled data, in a fresh directory."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Annotated

import typer

from connector.cli.common import console, err, handle_errors, is_tty
from connector.cli.render import print_plan, print_summary
from connector.cli.reporter import RichReporter
from connector.config.loader import load_config
from connector.errors import ConfigError
from connector.logs import setup_logging

__all__ = ["demo"]

MARKER = ".connector-demo"
DEMO_CONFIG = """\
# Written by `connector demo`. Every setting is documented in config.example.toml.
[workspace]
path = ".connector"

[identity]
default_region = "GB"

[model]
as_of = "2011-12-10"   # the data ends on 2011-12-09

[sources.shop]
plugin = "files"
path = "data"
lookback = "1d"

[destinations.export]
plugin = "files"
path = "out"
format = "csv"
"""


def _prepare(root: Path, config: Path) -> None:
    if root.exists() and any(root.iterdir()):
        if not (root / MARKER).exists():
            raise ConfigError(
                f"{root} exists and is not a demo directory; pass --dir with a new path"
            )
        for sub in (".connector", "out", "data"):
            shutil.rmtree(root / sub, ignore_errors=True)
    root.mkdir(parents=True, exist_ok=True)
    (root / MARKER).write_text("created by connector demo\n")
    config.parent.mkdir(parents=True, exist_ok=True)
    # absolute paths, so the config works wherever it is written
    config.write_text(DEMO_CONFIG.replace('path = "', f'path = "{root.as_posix()}/'))


@handle_errors
def demo(
    directory: Annotated[
        Path, typer.Option("--dir", help="Demo directory (re-created if it is one).")
    ] = Path("connector-demo"),
    config: Annotated[
        Path | None,
        typer.Option(
            "--config", "-c", help="Where to write the demo config (default DIR/connector.toml)."
        ),
    ] = None,
) -> None:
    """Run the pipeline twice on bundled sample data and show what landed."""
    from connector.demo.dataset import write_demo_inputs
    from connector.pipeline import Workspace, run_pipeline
    from connector.store.datastore import first_row

    setup_logging("WARNING", "text")
    root = directory.resolve()
    cfg_path = (config or root / "connector.toml").resolve()
    _prepare(root, cfg_path)
    counts = write_demo_inputs(root / "data")
    console.print(
        f"[bold]demo data[/bold]: {counts['customers']} customers (UCI Online Retail slice), "
        f"{counts['orders']} orders, {counts['web_events']} web events, "
        f"{counts['broken']} broken records"
    )
    cfg = load_config(cfg_path, env={})
    reporter = RichReporter(err, enabled=is_tty())
    for n in (1, 2):
        console.rule(f"run {n}")
        ws = Workspace(cfg)
        try:
            summary = run_pipeline(ws, dry_run=False, reporter=reporter)
        finally:
            ws.close()
        print_plan(console, summary.plans, sample=3 if n == 1 else 0)
        print_summary(console, summary)
        if summary.report:
            console.print(f"report: {summary.report}", highlight=False, soft_wrap=True)
        if n == 2:
            planned = summary.counts.get("planned", 0)
            console.print(
                f"second run planned {planned} changes"
                + (" (nothing changed, so nothing is sent)" if planned == 0 else "")
            )
    ws = Workspace(cfg)
    try:
        merged = first_row(
            ws.data.con.execute(
                "SELECT profile_id FROM merges WHERE accepted GROUP BY profile_id"
                " ORDER BY count(*) DESC, profile_id LIMIT 1"
            )
        )
    finally:
        ws.close()
    console.rule("results")
    console.print(f"traits:       {root / 'out' / 'traits.csv'}")
    console.print(f"memberships:  {root / 'out' / 'memberships.csv'}")
    console.print(f"runs:         connector runs --config {cfg_path}")
    if merged:
        console.print(f"a merge:      connector profiles explain {merged[0]} --config {cfg_path}")
