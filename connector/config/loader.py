"""Loads the configuration, in a documented order, and turns every mistake into one line.

Resolution order (later wins):
1. built-in defaults;
2. the config file (``--config``, else ``$CONNECTOR_CONFIG``, else ``./connector.toml``);
3. the secrets file (``--secrets``, else ``$CONNECTOR_SECRETS_FILE``, else
   ``connector.secrets.toml`` beside the config file when it exists), for secret settings only;
4. environment variables named by ``{ env = "VAR" }`` references;
5. ``$CONNECTOR_WORKSPACE`` overrides ``workspace.path``.

This module is the only place that reads the environment.
"""

from __future__ import annotations

import logging
import os
import stat
import tomllib
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from connector.config.embedded import (
    refuse_url_credentials,
    resolve_state_url,
    resolve_storage_options,
)
from connector.config.models import (
    AlertSettings,
    AppConfig,
    DestinationConfig,
    IdentitySettings,
    SourceConfig,
)
from connector.config.secrets import resolve_secrets
from connector.errors import ConfigError
from connector.plugin.registry import PluginRegistry

__all__ = [
    "DEFAULT_CONFIG",
    "DEFAULT_SECRETS",
    "config_path_from_env",
    "load_config",
    "setting_origins",
]

DEFAULT_CONFIG = Path("connector.toml")
DEFAULT_SECRETS = Path("connector.secrets.toml")
log = logging.getLogger(__name__)
_CORE_SOURCE_KEYS = set(SourceConfig.model_fields) - {"settings"}
_CORE_DEST_KEYS = set(DestinationConfig.model_fields) - {"settings"}


def config_path_from_env(explicit: Path | None) -> Path:
    if explicit is not None:
        return explicit
    env = os.environ.get("CONNECTOR_CONFIG")
    return Path(env) if env else DEFAULT_CONFIG


def _read_toml(path: Path, label: str) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError(
            f"{label} {path} not found (create one with `connector init`, or pass --config)"
        ) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot be read: {exc.strerror}") from None


def _warn_if_readable_by_others(path: Path, warnings: list[str] | None) -> None:
    """Like ssh with a private key: a secrets file readable by group or others is a leak."""
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except OSError:
        return
    if mode & 0o077:
        message = (
            f"secrets file {path} is readable by {'others' if mode & 0o007 else 'its group'} "
            f"(mode {mode:04o}); restrict it with: chmod 600 {path}"
        )
        if warnings is None:
            log.warning("%s", message)
        else:
            warnings.append(message)


def _first_error(exc: ValidationError, label: str, prefix: str = "") -> ConfigError:
    err = exc.errors()[0]
    loc = ".".join(str(p) for p in err["loc"] if p != "settings")
    key = ".".join(p for p in (prefix, loc) if p)
    msg = err["msg"]
    if err["type"] == "extra_forbidden":
        msg = "unknown key"
    elif err["type"] == "missing":
        msg = "required key is missing"
    more = f" (and {len(exc.errors()) - 1} more)" if len(exc.errors()) > 1 else ""
    return ConfigError(f"{label}: {key}: {msg}{more}")


def _plugin_section(
    kind: str,
    name: str,
    raw: Any,
    core_keys: set[str],
    registry: PluginRegistry,
    label: str,
    secrets: Mapping[str, Any],
    env: Mapping[str, str],
    required: bool = True,
) -> dict[str, Any]:
    where = f"{kind}.{name}"
    if not isinstance(raw, dict):
        raise ConfigError(f"{label}: {where}: must be a table")
    plugin = raw.get("plugin")
    if not isinstance(plugin, str):
        raise ConfigError(f"{label}: {where}.plugin: required key is missing")
    try:
        spec = registry.get(plugin)
    except ConfigError as exc:
        raise ConfigError(f"{label}: {where}.plugin: {exc}") from None
    core = {k: v for k, v in raw.items() if k in core_keys}
    plugin_raw = {k: v for k, v in raw.items() if k not in core_keys}
    secret_table = dict(secrets.get(kind, {}).get(name, {}))
    if "storage_options" in spec.settings_model.model_fields:
        plugin_raw = resolve_storage_options(
            plugin_raw, where=where, label=label, secrets_table=secret_table, env=env
        )
        secret_table.pop("storage_options", None)
    refuse_url_credentials(plugin_raw, where=where, label=label)
    plugin_raw = resolve_secrets(
        plugin_raw,
        spec.settings_model,
        where=where,
        file_label=label,
        secrets_table=secret_table,
        env=env,
        required=required,
    )
    try:
        settings: BaseModel = spec.settings_model.model_validate(plugin_raw)
    except ValidationError as exc:
        raise _first_error(exc, label, where) from None
    return {**core, "settings": settings}


def load_config(
    path: Path | None = None,
    *,
    secrets_path: Path | None = None,
    registry: PluginRegistry | None = None,
    env: Mapping[str, str] | None = None,
    warnings: list[str] | None = None,
    secrets_required: bool = True,
) -> AppConfig:
    """Load, resolve and validate; raise ``ConfigError`` with one line naming key and file.

    ``secrets_required=False`` is for commands that never call a platform (``runs``,
    ``report``, ``segments``, ...): a secret whose variable is unset reads as a placeholder.

    Warnings (a secrets file others can read, a setting under its old name) are appended to
    ``warnings`` when given, so the CLI can log them once logging is set up (in the chosen
    format); otherwise they are logged at once.
    """
    with _deferred_warnings(warnings):
        environ = os.environ if env is None else env
        return _load(path, secrets_path, registry, environ, warnings, secrets_required)


class _Collect(logging.Handler):
    """Keeps each distinct warning once (a settings model may be validated twice)."""

    def __init__(self, into: list[str]) -> None:
        super().__init__(logging.WARNING)
        self.into = into

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if message not in self.into:
            self.into.append(message)


@contextmanager
def _deferred_warnings(warnings: list[str] | None) -> Iterator[None]:
    """Route what settings models log while the config is validated into ``warnings``."""
    if warnings is None:
        yield
        return
    logger = logging.getLogger("connector.config")
    handler, propagate = _Collect(warnings), logger.propagate
    logger.addHandler(handler)
    logger.propagate = False
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.propagate = propagate


def _load(
    path: Path | None,
    secrets_path: Path | None,
    registry: PluginRegistry | None,
    env: Mapping[str, str],
    warnings: list[str] | None,
    required: bool = True,
) -> AppConfig:
    cfg_path = path or (
        Path(env["CONNECTOR_CONFIG"]) if env.get("CONNECTOR_CONFIG") else DEFAULT_CONFIG
    )
    label = str(cfg_path)
    raw = _read_toml(cfg_path, "config file")
    sec_path = secrets_path or (
        Path(env["CONNECTOR_SECRETS_FILE"]) if env.get("CONNECTOR_SECRETS_FILE") else None
    )
    if sec_path is None and (cfg_path.parent / DEFAULT_SECRETS).exists():
        sec_path = cfg_path.parent / DEFAULT_SECRETS
    secrets = _read_toml(sec_path, "secrets file") if sec_path else {}
    if sec_path is not None:
        _warn_if_readable_by_others(sec_path, warnings)
    registry = registry or PluginRegistry()

    for kind, core_keys in (("sources", _CORE_SOURCE_KEYS), ("destinations", _CORE_DEST_KEYS)):
        table = raw.get(kind, {})
        if not isinstance(table, dict):
            raise ConfigError(f"{label}: {kind}: must be a table of named {kind}")
        raw[kind] = {
            name: _plugin_section(
                kind, name, sect, core_keys, registry, label, secrets, env, required
            )
            for name, sect in table.items()
        }
    alerts = raw.get("alerts", {})
    if isinstance(alerts, dict):
        raw["alerts"] = resolve_secrets(
            alerts,
            AlertSettings,
            where="alerts",
            file_label=label,
            secrets_table=secrets.get("alerts", {}),
            env=env,
            required=required,
        )
    identity = raw.get("identity", {})
    if isinstance(identity, dict):
        raw["identity"] = resolve_secrets(
            identity,
            IdentitySettings,
            where="identity",
            file_label=label,
            secrets_table=secrets.get("identity", {}),
            env=env,
        )
    workspace = raw.get("workspace", {})
    if isinstance(workspace, dict):
        raw["workspace"] = resolve_state_url(
            workspace, label=label, secrets_table=secrets.get("workspace", {}), env=env
        )
    if env.get("CONNECTOR_WORKSPACE"):
        raw.setdefault("workspace", {})
        if isinstance(raw["workspace"], dict):
            raw["workspace"]["path"] = env["CONNECTOR_WORKSPACE"]
    try:
        config = AppConfig.model_validate({**raw, "config_path": cfg_path})
    except ValidationError as exc:
        raise _first_error(exc, label) from None
    return _anchor_paths(config, cfg_path)


def _anchor_paths(config: AppConfig, cfg_path: Path) -> AppConfig:
    """Relative workspace paths are relative to the config file's directory."""
    base = cfg_path.resolve().parent
    ws = config.workspace.path
    if not ws.is_absolute():
        ws = base / ws
    return config.model_copy(update={"workspace": config.workspace.model_copy(update={"path": ws})})


def setting_origins(
    path: Path | None = None,
    *,
    secrets_path: Path | None = None,
    env: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """Where each setting written somewhere came from, by dotted key: ``file`` (the config
    file), ``env VAR`` (a ``{ env = "VAR" }`` reference, or ``$CONNECTOR_WORKSPACE``) or
    ``secrets file``; a key not listed has its default. For ``connector config show``."""
    env = os.environ if env is None else env
    cfg_path = path or (
        Path(env["CONNECTOR_CONFIG"]) if env.get("CONNECTOR_CONFIG") else DEFAULT_CONFIG
    )
    raw = _read_toml(cfg_path, "config file")
    sec_path = secrets_path or (
        Path(env["CONNECTOR_SECRETS_FILE"]) if env.get("CONNECTOR_SECRETS_FILE") else None
    )
    if sec_path is None and (cfg_path.parent / DEFAULT_SECRETS).exists():
        sec_path = cfg_path.parent / DEFAULT_SECRETS
    out: dict[str, str] = {}

    def walk(table: Mapping[str, Any], prefix: str, origin: str) -> None:
        for key, value in table.items():
            dotted = f"{prefix}{key}"
            if isinstance(value, Mapping) and set(value) == {"env"}:
                out[dotted] = f"env {value['env']}"
            elif isinstance(value, Mapping) and key not in ("storage_options", "user_lists"):
                walk(value, dotted + ".", origin)
            else:
                out[dotted] = origin

    walk(raw, "", "file")
    if sec_path is not None:
        walk(_read_toml(sec_path, "secrets file"), "", "secrets file")
    if env.get("CONNECTOR_WORKSPACE"):
        out["workspace.path"] = "env CONNECTOR_WORKSPACE"
    return out
