"""``connector demo``: the whole run twice, offline, on bundled data, in a fresh directory."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Annotated, Literal

import typer

from connector.cli.common import console, err, handle_errors, is_tty, safe
from connector.cli.progress import RichProgress
from connector.cli.render import print_plan, print_summary
from connector.config.loader import load_config
from connector.config.models import AppConfig
from connector.errors import ConfigError
from connector.logs import setup_logging

__all__ = ["demo"]

MARKER = ".connector-demo"
# The demo's profile-id key, so every fresh demo mints the same ids (the data is synthetic): a
# real workspace sets its own in the environment or the secrets file, or leaves it random.
DEMO_SECRETS = '[identity]\nid_key = "connector-demo-profile-ids"\n'
DEMO_CONFIG = """\
# Written by `connector demo`. Every setting is documented in config.example.toml.
[workspace]
path = ".connector"

[identity]
default_region = "GB"

[model]
{as_of}

[sources.shop]
plugin = "files"
path = "data"
lookback = "1d"

[destinations.export]
plugin = "files"
path = "out"
format = "csv"
"""


def _prepare(root: Path) -> None:
    if root.exists() and any(root.iterdir()):
        if not (root / MARKER).exists():
            raise ConfigError(
                f"{root} exists and is not a demo directory; pass --dir with a new path"
            )
        for sub in (".connector", "out", "data", "segment-archive"):
            shutil.rmtree(root / sub, ignore_errors=True)
    root.mkdir(parents=True, exist_ok=True)
    (root / MARKER).write_text("created by connector demo\n")


def _write_config(root: Path, config: Path, text: str, secrets: str) -> None:
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text(text)
    secrets_file = config.parent / "connector.secrets.toml"
    # the emulators' fake credentials: real ones belong in the environment or this file
    secrets_file.touch(mode=0o600)
    secrets_file.write_text("\n".join(filter(None, [DEMO_SECRETS, secrets])))
    secrets_file.chmod(0o600)


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
    files_only: Annotated[
        bool,
        typer.Option("--files-only", help="Only the files plugin, no platform emulators."),
    ] = False,
    engine: Annotated[
        Literal["duckdb", "spark"],
        typer.Option(
            "--engine",
            help="Compute engine: duckdb (embedded) or spark (local Spark, needs a JDK).",
        ),
    ] = "duckdb",
) -> None:
    """Pull, unify, score and push twice, offline: files plus the HubSpot, Klaviyo and Segment
    emulators holding the same people under different ids (when their SDKs are installed)."""
    from connector.demo.dataset import as_of_setting
    from connector.demo.platforms import (
        available,
        platform_config,
        roles_played,
        running_platforms,
    )
    from connector.plugin.registry import PluginRegistry

    setup_logging("WARNING", "text")
    root = directory.resolve()
    cfg_path = (config or root / "connector.toml").resolve()
    _prepare(root)
    registry = PluginRegistry()
    platforms = [] if files_only else available(registry)
    with running_platforms(root, platforms) as parts:
        if platforms:
            text, secrets = platform_config(root, parts)
        else:
            text = DEMO_CONFIG.replace('path = "', f'path = "{root.as_posix()}/')
            text = text.replace("{as_of}", as_of_setting())
            secrets = ""
        if engine == "spark":
            text += '\n[engine]\nkind = "spark"\nmaster = "local[2]"\n'
        _write_config(root, cfg_path, text, secrets)
        _run_demo(root, cfg_path, platforms, roles_played(registry, platforms))


def _run_demo(root: Path, cfg_path: Path, platforms: list[str], plays: frozenset[str]) -> None:
    from connector.demo.dataset import write_demo_inputs
    from connector.demo.platforms import write_ads_consent
    from connector.pipeline import run_pipeline
    from connector.workspace import Workspace

    counts = write_demo_inputs(root / "data", crm="crm" not in plays, web="web" not in plays)
    if "crm" in plays:
        write_ads_consent(root / "data")
    where = ", ".join(["files", *platforms])
    console.print(
        f"[bold]demo data[/bold] ({where}): {counts['customers']} customers "
        f"(UCI Online Retail slice), {counts['orders']} orders, {counts['broken']} broken records"
    )
    cfg = load_config(cfg_path, env={})
    progress = RichProgress(err, enabled=is_tty())
    for n in (1, 2):
        console.rule(f"run {n}")
        ws = Workspace(cfg)
        try:
            # the emulators are the demo's own: creating their contacts needs no confirmation
            summary = run_pipeline(ws, dry_run=False, progress=progress, confirm_creates=True)
        finally:
            ws.close()
        print_plan(console, summary.plans, sample=3 if n == 1 else 0)
        summary.close()
        print_summary(console, summary)
        if summary.report:
            console.print(f"report: {safe(summary.report)}", highlight=False, soft_wrap=True)
        if n == 2:
            planned = summary.counts.get("planned", 0)
            console.print(
                f"second run planned {planned} changes"
                + (" (nothing changed, so nothing is sent)" if planned == 0 else "")
            )
    _show_results(root, cfg_path, cfg)


def _show_results(root: Path, cfg_path: Path, cfg: AppConfig) -> None:
    from connector.identity.explain import explain_profile
    from connector.store.datastore import first_row
    from connector.workspace import Workspace

    ws = Workspace(cfg)
    try:
        # the person known to the most sources, under the most kinds of id
        best = first_row(
            ws.data.con.execute(
                """SELECT profile_id FROM identities
                   GROUP BY profile_id ORDER BY count(DISTINCT kind) DESC, profile_id LIMIT 1"""
            )
        )
        explained = explain_profile(ws.data, best[0]) if best else None
    finally:
        ws.close()
    console.rule("results")
    if explained is not None:
        kinds = sorted({k for k, _ in explained.identities})
        console.print(
            f"one person, merged across sources: {safe(explained.profile_id)} has "
            + safe(", ".join(kinds)),
            highlight=False,
            soft_wrap=True,
        )
        console.print(
            f"  records: {safe(', '.join(explained.records))}", highlight=False, soft_wrap=True
        )
    console.print(f"traits:       {safe(root / 'out' / 'traits.csv')}")
    console.print(f"memberships:  {safe(root / 'out' / 'memberships.csv')}")
    console.print(f"runs:         connector runs --config {safe(cfg_path)}")
    if explained is not None:
        console.print(
            f"explain:      connector profiles explain {safe(explained.profile_id)} "
            f"--config {safe(cfg_path)}"
        )
