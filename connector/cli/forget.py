"""``connector forget``: record privacy erasure requests, show where they stand, export the log.

A request names one person by any of their identifiers; the identifiers are kept only as keyed
hashes (``connector.privacy.keys``). The next run (or ``--apply``, which starts one now) erases
the person from the data store, removes them from every list and audience and suppresses them
in later pulls. Nothing printed here contains a raw identifier.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from connector.cli.common import (
    ConfigOpt,
    ExitCode,
    SecretsOpt,
    console,
    handle_errors,
    load,
    safe,
)
from connector.errors import ConfigError

if TYPE_CHECKING:
    from connector.config.models import AppConfig
    from connector.privacy.book import ErasureBook

__all__ = ["forget", "parse_line"]

_KINDS = ("email", "phone", "id", "record")


def parse_line(line: str) -> tuple[str, str]:
    """``email:ann@x.org``, ``phone:+44...``, ``id:hubspot_id:101``, ``record:hubspot:101``; a
    bare line with an ``@`` is an email."""
    text = line.strip()
    kind, sep, value = text.partition(":")
    if sep and kind in _KINDS:
        return kind, value.strip()
    if "@" in text:
        return "email", text
    raise ConfigError(
        "each line names one identifier: email:…, phone:…, id:KIND:VALUE or record:SOURCE:ID"
    )


@handle_errors
def forget(
    config: ConfigOpt = None,
    secrets: SecretsOpt = None,
    email: Annotated[list[str] | None, typer.Option("--email", help="An email address.")] = None,
    phone: Annotated[list[str] | None, typer.Option("--phone", help="A phone number.")] = None,
    ident: Annotated[
        list[str] | None, typer.Option("--id", help="An identity KIND:VALUE (hubspot_id:101).")
    ] = None,
    record: Annotated[
        list[str] | None, typer.Option("--record", help="A source record SOURCE:SOURCE_ID.")
    ] = None,
    file: Annotated[
        Path | None,
        typer.Option(
            "--file",
            help="One person per line, one identifier each: email:ann@example.org, "
            "phone:+447911123456, id:hubspot_id:101 or record:shop:c17 (a bare address is an "
            "email; lines starting with # are skipped).",
        ),
    ] = None,
    status: Annotated[bool, typer.Option("--status", help="List requests.")] = False,
    apply: Annotated[bool, typer.Option("--apply", help="Run the pipeline now.")] = False,
    audit_csv: Annotated[
        Path | None, typer.Option("--audit-csv", help="Write the erasure audit log as CSV.")
    ] = None,
) -> None:
    """Forget a person (GDPR art. 17 / CCPA deletion): every identifier given on the command
    line is one person; each line of --file is another."""
    from connector.privacy.book import ErasureBook
    from connector.privacy.keys import Hasher, identifier_key, load_key
    from connector.workspace import Workspace

    cfg = load(config, secrets)
    region = cfg.identity.default_region
    given = [("email", v) for v in email or ()] + [("phone", v) for v in phone or ()]
    given += [("id", v) for v in ident or ()] + [("record", v) for v in record or ()]
    people = [given] if given else []
    if file is not None:
        lines = _read_lines(file)
        people += [[parse_line(x)] for x in lines if x.strip() and not x.startswith("#")]
    if audit_csv is not None and not audit_csv.parent.is_dir():
        raise ConfigError(f"--audit-csv {audit_csv}: no folder {audit_csv.parent} to write into")
    ws = Workspace(cfg)
    try:
        book = ErasureBook(ws.state)
        hasher = Hasher(load_key(ws.path))
        for person in people:
            hashes = [hasher(identifier_key(k, v, region)) for k, v in person]
            console.print(f"request {safe(book.add(hashes))} recorded")
        if audit_csv is not None:
            audit_csv.write_text(book.audit_csv(), encoding="utf-8")
            console.print(f"audit log: {safe(audit_csv)}")
        if status or not (people or apply or audit_csv):
            _print_status(book)
    finally:
        ws.close()
    if apply:
        _apply(cfg)


def _read_lines(file: Path) -> list[str]:
    """The lines of ``--file``: a path that cannot be read is the user's to fix (exit 2)."""
    try:
        return file.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise ConfigError(f"--file {file}: no such file") from None
    except UnicodeDecodeError:
        raise ConfigError(f"--file {file}: not UTF-8 text (save it as UTF-8)") from None
    except OSError as exc:
        raise ConfigError(f"--file {file}: cannot be read ({exc.strerror})") from None


def _print_status(book: ErasureBook) -> None:
    """One line per request, then one per destination (cleared, or how many changes left)."""
    requests = book.requests()
    if not requests:
        console.print("no privacy requests")
    for req in requests:
        done = f", completed {req.completed_at}" if req.completed_at else ""
        console.print(
            f"{req.request_id}  {req.status}  received {req.received_at}{done}"
            f"  profiles {req.profiles}",
            highlight=False,
            soft_wrap=True,
        )
        for dest, state in sorted(req.destinations.items()):
            console.print(f"  {safe(dest)}: {safe(state)}", highlight=False, soft_wrap=True)


def _apply(cfg: AppConfig) -> None:
    from connector.cli.render import print_summary
    from connector.pipeline import run_pipeline
    from connector.workspace import Workspace

    ws = Workspace(cfg)
    try:
        summary = run_pipeline(ws)
    finally:
        ws.close()
    summary.close()
    print_summary(console, summary)
    if summary.status in ("partial", "completed_with_rejects", "interrupted"):
        raise typer.Exit(ExitCode.REJECTS)
