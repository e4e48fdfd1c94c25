"""``connector config show``: every resolved setting, where it came from (the config file, an
environment variable, the secrets file, or the default), secrets masked."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from pydantic import BaseModel, SecretStr
from rich.markup import escape
from rich.table import Table

from connector.cli.common import (
    ConfigOpt,
    SecretsOpt,
    console,
    handle_errors,
    load,
    revealing,
    safe,
)
from connector.cli.options import OutputOpt, print_json
from connector.config.models import AppConfig
from connector.config.reference import toml_value
from connector.config.secrets import UNSET_PREFIX
from connector.redaction import redact

__all__ = ["config_app", "resolved_settings"]

config_app = typer.Typer(help="Inspect the resolved configuration.", no_args_is_help=True)


def _shown(value: Any) -> str:
    if isinstance(value, SecretStr):
        secret = value.get_secret_value()
        return (
            f"not set ({secret[len(UNSET_PREFIX) : -1]})"
            if secret.startswith(UNSET_PREFIX)
            else "[secret]"
        )
    return toml_value(value)


def _flatten(model: BaseModel, prefix: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    for name in type(model).model_fields:
        value = getattr(model, name)
        if isinstance(value, BaseModel):
            out += _flatten(value, f"{prefix}{name}.")
        else:
            out.append((f"{prefix}{name}", _shown(value)))
    return out


def _setting_text(key: str, value: str) -> str:
    """A setting's value as shown: ``identity.blocked_values`` whole, an ``…_id`` setting with
    its digits, every other value with contact details masked."""
    if key == "identity.blocked_values":
        return redact(value, contacts=False)
    return redact(value, phones=not key.endswith("_id"))


def resolved_settings(cfg: AppConfig, origins: dict[str, str]) -> list[tuple[str, str, str]]:
    """(dotted key, value as written, origin) of every setting, plugin settings included."""
    rows: list[tuple[str, str]] = []
    for name in AppConfig.model_fields:
        value = getattr(cfg, name)
        if isinstance(value, BaseModel):
            rows += _flatten(value, f"{name}.")
    for kind in ("sources", "destinations"):
        for instance, section in getattr(cfg, kind).items():
            prefix = f"{kind}.{instance}."
            core = [(f"{prefix}{k}", _shown(v)) for k, v in section if k != "settings"]
            rows += core + _flatten(section.settings, prefix)
    return [(key, value, origins.get(key, "default")) for key, value in rows]


@config_app.command("show")
@handle_errors
def show(config: ConfigOpt = None, secrets: SecretsOpt = None, output: OutputOpt = "table") -> None:
    """Every setting with its value and where it came from (secrets masked, never printed)."""
    from connector.config.loader import setting_origins

    cfg = load(config, secrets, read_only=True)
    origins = setting_origins(cfg.config_path or config, secrets_path=secrets)
    # Secrets never reach here unmasked (`_shown` prints a secret field as [secret]); contact
    # details are masked as everywhere (an alert recipient is somebody), but an id's digits are
    # no phone number and the blocked placeholder addresses are no one's (`_setting_text`).
    rows = [(k, _setting_text(k, v), o) for k, v, o in resolved_settings(cfg, origins)]
    if output == "json":
        print_json([{"setting": k, "value": v, "from": redact(o)} for k, v, o in rows], masked=True)
        return
    where = Path(cfg.config_path) if cfg.config_path else None
    table = Table(title=f"Settings of {safe(where or 'the config')}")
    for col in ("setting", "value", "from"):
        table.add_column(col, overflow="fold")
    for key, value, origin in rows:
        table.add_row(safe(key), escape(value), safe(origin))
    with revealing():
        console.print(table)
