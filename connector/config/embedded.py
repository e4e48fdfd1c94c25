"""Secrets hidden inside ordinary settings: URL passwords and fsspec ``storage_options``.

A ``SecretStr`` field is refused in the config file by :mod:`connector.config.secrets`; these
are the places a credential slips past that rule: ``postgresql://user:pass@host`` as
``workspace.state_url``, ``https://key@host`` as a plugin's ``base_url``, and
``storage_options = { secret = "..." }`` for an S3 archive. Each is refused in the config file
with the way to do it right, and resolved (and registered with the redactor) when it comes from
the environment or the secrets file.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, TypeGuard
from urllib.parse import urlsplit

from connector.errors import ConfigError
from connector.redaction import register_secret

__all__ = ["refuse_url_credentials", "resolve_state_url", "resolve_storage_options"]

# fsspec/s3fs/gcsfs/adlfs option names that carry credentials
_SECRET_OPTION = re.compile(
    r"(?i)(^|_)(key|secret|token|password|passwd|credentials?|connection_string|sas|"
    r"account_key|client_secret|private_key)($|_)"
)
_URL = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.\-]*://")


def _is_env_ref(value: Any) -> TypeGuard[Mapping[str, Any]]:
    return isinstance(value, Mapping) and set(value) == {"env"} and isinstance(value["env"], str)


def _from_env(value: Mapping[str, Any], key: str, label: str, env: Mapping[str, str]) -> str:
    var = str(value["env"])
    if not env.get(var):
        raise ConfigError(f"{label}: {key}: environment variable {var} is not set")
    return env[var]


def _userinfo(url: str) -> tuple[str | None, str | None]:
    try:
        parts = urlsplit(url)
    except ValueError:
        return None, None
    return parts.username, parts.password


def refuse_url_credentials(raw: Mapping[str, Any], *, where: str, label: str) -> None:
    """A URL setting with ``user:password@`` (or ``token@``) is a secret in plain sight."""
    for name, value in raw.items():
        if isinstance(value, str) and _URL.match(value) and any(_userinfo(value)):
            raise ConfigError(
                f"{label}: {where}.{name}: credentials must not be written in a URL in the "
                "config file; put them in the plugin's secret settings (an env reference or "
                "the secrets file)"
            )


def resolve_state_url(
    workspace: dict[str, Any],
    *,
    label: str,
    secrets_table: Mapping[str, Any],
    env: Mapping[str, str],
) -> dict[str, Any]:
    """``workspace.state_url`` from the config (no password), an env reference, or the secrets
    file; its password is registered with the redactor."""
    out = dict(workspace)
    key = "workspace.state_url"
    value = out.get("state_url")
    if _is_env_ref(value):
        out["state_url"] = _from_env(value, key, label, env)
    elif "state_url" in secrets_table:
        secret = secrets_table["state_url"]
        if not isinstance(secret, str):
            raise ConfigError(f"secrets file: {key}: must be a string")
        out["state_url"] = secret
    elif isinstance(value, str) and _userinfo(value)[1]:
        raise ConfigError(
            f"{label}: {key}: a database password must not be written in the config file; use "
            'state_url = { env = "VAR" } or put state_url under [workspace] in the secrets file'
        )
    for name in secrets_table:
        if name != "state_url":
            raise ConfigError(f"secrets file: workspace.{name}: is not a secret setting")
    url = out.get("state_url")
    if isinstance(url, str):
        password = _userinfo(url)[1]
        if password:
            register_secret(password)
    return out


def resolve_storage_options(
    raw: dict[str, Any],
    *,
    where: str,
    label: str,
    secrets_table: Mapping[str, Any],
    env: Mapping[str, str],
) -> dict[str, Any]:
    """``storage_options`` credentials only as env references or from the secrets file."""
    options = raw.get("storage_options")
    from_file = secrets_table.get("storage_options", {})
    if options is None and not from_file:
        return raw
    if not isinstance(options, Mapping | None) or not isinstance(from_file, Mapping):
        raise ConfigError(f"{label}: {where}.storage_options: must be a table")
    resolved: dict[str, Any] = {}
    for name, value in (options or {}).items():
        key = f"{where}.storage_options.{name}"
        if _is_env_ref(value):
            resolved[name] = _from_env(value, key, label, env)
            if _SECRET_OPTION.search(str(name)):
                register_secret(resolved[name])
            continue
        if _SECRET_OPTION.search(str(name)) and value not in (None, ""):
            raise ConfigError(
                f"{label}: {key}: secrets must not be written in the config file; use "
                f'{name} = {{ env = "VAR" }} or put it under storage_options in the secrets file'
            )
        refuse_url_credentials({name: value}, where=f"{where}.storage_options", label=label)
        resolved[name] = value
    for name, value in from_file.items():
        if not isinstance(value, str):
            raise ConfigError(f"secrets file: {where}.storage_options.{name}: must be a string")
        resolved[name] = value
        register_secret(value)
    return {**raw, "storage_options": resolved}
