"""Read-only commands: plugins, plugins show, profiles explain."""

from __future__ import annotations

from contextlib import nullcontext
from functools import partial
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape
from rich.table import Table

from connector.cli.common import (
    ConfigOpt,
    ExitCode,
    console,
    err,
    handle_errors,
    load,
    revealing,
    safe,
)
from connector.plugin.registry import PluginRegistry
from connector.redaction import neutralise_controls, redact

if TYPE_CHECKING:
    from connector.identity.explain import Explanation

__all__ = ["plugins_app", "profiles_app"]

profiles_app = typer.Typer(help="Inspect unified profiles.", no_args_is_help=True)


def _revealed(value: object) -> str:
    """What ``--reveal`` prints: identifiers as stored, but inert for the terminal and Rich."""
    return escape(neutralise_controls(str(value)))


plugins_app = typer.Typer(
    help="Installed plugins, or one plugin's settings (`plugins show NAME`).",
    invoke_without_command=True,
)


@plugins_app.callback()
@handle_errors
def plugins(ctx: typer.Context) -> None:
    """List installed plugins and their capabilities (broken ones with the reason)."""
    if ctx.invoked_subcommand is not None:
        return
    registry = PluginRegistry()
    specs, broken = registry.load_all()
    table = Table(title="Plugins")
    for col in ("name", "capabilities", "description"):
        table.add_column(col)
    for spec in specs:
        table.add_row(
            safe(spec.name),
            safe(", ".join(sorted(c.value for c in spec.capabilities))),
            safe(spec.description),
        )
    console.print(table)
    for b in broken:
        err.print(
            f"[yellow]broken plugin {safe(b.name)} ({safe(b.target)}): {safe(b.reason)}[/yellow]",
            highlight=False,
            soft_wrap=True,
        )


@plugins_app.command("show")
@handle_errors
def plugin_show(
    name: Annotated[str, typer.Argument(help="Plugin name, e.g. hubspot (see `plugins`).")],
) -> None:
    """Every setting of one plugin: type, default, an example and what it does."""
    from connector.config.reference import plugin_settings

    spec = PluginRegistry().get(name)
    console.print(f"[bold]{safe(spec.name)}[/bold]: {safe(spec.description)}", highlight=False)
    caps = ", ".join(sorted(c.value for c in spec.capabilities))
    console.print(f"capabilities: {safe(caps)}", highlight=False)
    where = f'a [sources.NAME] or [destinations.NAME] table with plugin = "{spec.name}"'
    table = Table(title=f"Settings, in {escape(where)}")
    for col in ("setting", "type", "default", "example", "description"):
        table.add_column(col, overflow="fold")
    for s in plugin_settings(spec):
        example = "" if s.example == "(unset)" else s.example
        cells = [safe(c) for c in (s.key, s.type)]
        # defaults and examples are documentation (an account id of ten digits, a placeholder
        # address), masked for secrets only, as `config show` masks a setting's value
        cells += [escape(redact(c, contacts=False)) for c in (s.default, example)]
        table.add_row(*cells, safe(s.description))
    with revealing():
        console.print(table)
    console.print(
        'secrets: write { env = "VAR" } in the config file, or the value in the secrets file',
        highlight=False,
    )


@profiles_app.command("explain")
@handle_errors
def explain(
    who: Annotated[
        str,
        typer.Argument(
            help="An email address, a source record id (crm-123 or SOURCE:crm-123) or a "
            "profile id (p_1a2b3c4d5e6f7a8b)."
        ),
    ],
    config: ConfigOpt = None,
    reveal: Annotated[bool, typer.Option("--reveal", help="Show identifiers unmasked.")] = False,
) -> None:
    """Who this person is to the connector: identifiers and records, scores in words,
    segments (and control-group status), and what was sent to which destination when."""
    from connector.cli.profile_card import print_card, profile_card
    from connector.identity.explain import explain_profile
    from connector.identity.lookup import find_profile
    from connector.workspace import Workspace

    ws = Workspace(load(config, read_only=True))
    try:
        profile_id = find_profile(ws.data, who)
        exp = None if profile_id is None else explain_profile(ws.data, profile_id, reveal=reveal)
        card = None if exp is None else profile_card(ws, exp.merged_into or exp.profile_id)
    finally:
        ws.close()
    with revealing() if reveal else nullcontext():
        _print_explanation(who, exp, reveal=reveal, region=ws.config.identity.default_region)
    if card is not None:
        print_card(card)


def _an_id(value: str, region: str) -> str:
    """An identifier of a record, for the masked explanation: secrets and e-mails masked, and
    a number masked only when it is a valid phone number (a source keyed by phone, a Segment
    userId that is one), so an eleven-digit HubSpot id is shown whole."""
    from connector.errors import SkippableError
    from connector.schema.normalise import PhoneExtensionError, normalise_phone

    tail = value.rpartition(":")[2].strip()
    try:
        normalise_phone(tail, region)
    except PhoneExtensionError:  # a phone number all the same
        return safe(value)
    except SkippableError:
        return escape(redact(value, phones=False))
    return safe(value)


def _print_explanation(
    profile_id: str, exp: Explanation | None, *, reveal: bool, region: str
) -> None:
    if exp is None:
        err.print(f"no profile {safe(profile_id)}", highlight=False)
        raise typer.Exit(ExitCode.FAILED)
    if exp.merged_into:
        console.print(f"{safe(profile_id)} was merged into [bold]{safe(exp.merged_into)}[/bold]")
    console.print(f"[bold]profile {safe(exp.merged_into or exp.profile_id)}[/bold]")
    # --reveal shows identifiers unmasked on purpose; control characters and markup never pass
    shown = _revealed if reveal else safe
    # masked, e-mails and phones are masked already (``explain.mask``); a record or platform id
    # is shown whole, its digits no phone number (an eleven-digit HubSpot id read [phone])
    ids = _revealed if reveal else partial(_an_id, region=region)
    with revealing():
        console.print(
            "identifiers: " + ", ".join(f"{shown(k)}={ids(v)}" for k, v in exp.identities),
            highlight=False,
            soft_wrap=True,
        )
        console.print(
            "records: " + ", ".join(map(ids, exp.records)), highlight=False, soft_wrap=True
        )
    if exp.retired:
        console.print("absorbed profile ids: " + ", ".join(map(safe, exp.retired)), highlight=False)
    if exp.merges:
        table = Table(title="Merges")
        for col in ("record", "joined", "via", "identifier", "result"):
            table.add_column(col)
        for a, b, kind, value, ok, note in exp.merges:
            value_shown = shown(value) if kind in ("email", "phone") else ids(value)
            table.add_row(ids(a), ids(b), shown(kind), value_shown, shown("merged" if ok else note))
        with revealing():
            console.print(table)
    else:
        console.print("no merges: a single source record")
