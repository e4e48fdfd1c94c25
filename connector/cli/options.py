"""Options several commands share: ``--output json`` and the ``run`` subsets.

JSON has its strings masked one by one (contact details and secrets, as in tables) and stays
valid JSON; scripts get stable keys instead of a table's layout.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Annotated, Any, Literal

import typer

from connector.cli.common import console, revealing
from connector.config.models import AppConfig
from connector.errors import ConfigError
from connector.redaction import redact

__all__ = [
    "DestinationOpt",
    "OutputOpt",
    "SegmentOpt",
    "SourceOpt",
    "known_segments",
    "narrow",
    "print_json",
]

OutputOpt = Annotated[
    Literal["table", "json"],
    typer.Option("--output", "-o", help="'table' for people, 'json' for scripts."),
]
SourceOpt = Annotated[
    list[str] | None,
    typer.Option("--source", help="Pull only this source (repeatable); the rest are not read."),
]
DestinationOpt = Annotated[
    list[str] | None,
    typer.Option("--destination", help="Plan and send to this destination only (repeatable)."),
]
SegmentOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--segment",
        help="Sync memberships of this segment only (repeatable); other segments' members "
        "are left as they are.",
    ),
]


def _masked(value: Any) -> Any:
    """Every string redacted where it stands, so the document stays valid JSON (masking the
    printed text would turn a long number into ``[phone]``)."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {redact(str(k)): _masked(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_masked(v) for v in value]
    if value is None or isinstance(value, bool | int | float):
        return value
    return redact(str(value))


def print_json(data: Any, *, masked: bool = False) -> None:
    """One JSON document on stdout, its strings masked like every other output (``masked``:
    the caller masked them already, value by value, as `config show` masks a setting)."""
    text = json.dumps(data if masked else _masked(data), indent=2, ensure_ascii=False)
    with revealing():  # already masked value by value: the stream must not re-mask numbers
        console.print(text, markup=False, highlight=False, soft_wrap=True)


def _pick(kind: str, table: dict[str, Any], chosen: Iterable[str]) -> dict[str, Any]:
    wanted = set(chosen)
    unknown = sorted(wanted - set(table))
    if unknown:
        known = ", ".join(sorted(table)) or "none"
        raise ConfigError(f"--{kind[:-1]}: no {kind[:-1]} named {unknown[0]!r} (known: {known})")
    return {
        name: section.model_copy(update={"enabled": section.enabled and name in wanted})
        for name, section in table.items()
    }


def known_segments(known: Iterable[str], chosen: list[str] | None) -> frozenset[str] | None:
    """``--segment`` values checked against the catalogue (empty before the first run)."""
    if not chosen:
        return None
    names = set(known)
    unknown = sorted(set(chosen) - names) if names else []
    if unknown:
        listed = ", ".join(sorted(names))
        raise ConfigError(
            f"--segment: no segment {unknown[0]!r} (see `connector segments`: {listed})"
        )
    return frozenset(chosen)


def narrow(cfg: AppConfig, sources: list[str] | None, destinations: list[str] | None) -> AppConfig:
    """The config with only the chosen sources and destinations enabled."""
    update: dict[str, Any] = {}
    if sources:
        update["sources"] = _pick("sources", cfg.sources, sources)
    if destinations:
        update["destinations"] = _pick("destinations", cfg.destinations, destinations)
    return cfg.model_copy(update=update) if update else cfg
