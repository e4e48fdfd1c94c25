"""Where secrets may come from: environment variables or a secrets file, never the config file.

A secret field in the config file is written as a reference, ``token = { env = "HUBSPOT_TOKEN" }``;
the secrets file (TOML, same table layout) may hold the value itself. Every resolved value is
registered with the log redactor so it can never be printed.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel

from connector.errors import ConfigError
from connector.logs import register_secret
from connector.plugin.secrets import is_secret_field, secret_fields

__all__ = [
    "UNSET_PREFIX",
    "is_secret_field",
    "resolve_secrets",
    "secret_fields",
    "unset_placeholder",
]

UNSET_PREFIX = "<unset: "


def unset_placeholder(var: str) -> str:
    """What a secret reads as when a read-only command loaded the config without it."""
    return f"{UNSET_PREFIX}${var}>"


def _is_env_ref(value: Any) -> bool:
    return isinstance(value, Mapping) and set(value) == {"env"} and isinstance(value["env"], str)


def resolve_secrets(
    raw: dict[str, Any],
    model: type[BaseModel],
    *,
    where: str,
    file_label: str,
    secrets_table: Mapping[str, Any],
    env: Mapping[str, str],
    required: bool = True,
) -> dict[str, Any]:
    """Return ``raw`` with secret fields filled from env refs or the secrets file.

    ``where`` is the dotted key prefix used in error messages (``sources.crm``). With
    ``required=False`` (read-only commands, which never call a platform) an unset variable
    leaves a placeholder naming it instead of failing.
    """
    out = dict(raw)
    for name in secret_fields(model):
        key = f"{where}.{name}"
        value = out.get(name)
        if value is not None and not _is_env_ref(value):
            raise ConfigError(
                f"{file_label}: {key}: secrets must not be written in the config file; "
                f'use {name} = {{ env = "VAR" }} or put it in the secrets file'
            )
        if _is_env_ref(value):
            var = str(value["env"])  # type: ignore[index]
            if not env.get(var) and not required:
                out[name] = unset_placeholder(var)
                continue
            if not env.get(var):
                raise ConfigError(f"{file_label}: {key}: environment variable {var} is not set")
            out[name] = env[var]
        elif name in secrets_table:
            secret = secrets_table[name]
            if not isinstance(secret, str):
                raise ConfigError(f"secrets file: {key}: must be a string")
            out[name] = secret
        elif not required and model.model_fields[name].is_required():
            out[name] = unset_placeholder(name)
            continue
        else:
            continue
        register_secret(out[name])
    for name in secrets_table:
        if name not in secret_fields(model):
            raise ConfigError(
                f"secrets file: {where}.{name}: is not a secret setting of this plugin"
            )
    return out
