"""The settings reference, generated from the pydantic models so it cannot drift from them.

``docs/SETTINGS.md`` is this module's output (a test keeps it current; regenerate with
``python -m connector.config.reference > docs/SETTINGS.md``) and ``connector plugins show NAME``
prints one plugin's part. Each setting has its type, default, description and an example: the
value the plugin's block in ``config.example.toml`` uses (commented or not), else the default.
"""

from __future__ import annotations

import json
import re
import tomllib
import types
from dataclasses import dataclass
from datetime import date, timedelta
from enum import Enum
from pathlib import Path
from typing import Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel, SecretStr
from pydantic_core import PydanticUndefined

from connector.config.example import example_config
from connector.config.models import AppConfig, DestinationConfig, SourceConfig
from connector.plugin.registry import PluginRegistry
from connector.plugin.spec import PluginSpec

__all__ = [
    "Setting",
    "example_blocks",
    "model_settings",
    "plugin_settings",
    "reference_markdown",
    "toml_value",
]

_BLOCK = re.compile(r"^#?\s*\[(sources|destinations)\.([\w-]+)\]\s*$")


@dataclass(frozen=True, slots=True)
class Setting:
    key: str
    type: str
    default: str
    description: str
    example: str
    secret: bool = False

    @property
    def required(self) -> bool:
        return self.default == "required"


def toml_value(value: Any) -> str:
    """A value as it would be written in the config file."""
    if isinstance(value, timedelta):
        seconds = int(value.total_seconds())
        for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
            if seconds and seconds % size == 0:
                return f'"{seconds // size}{unit}"'
        return f'"{seconds}s"'
    if isinstance(value, Path | Enum):
        value = str(value.value if isinstance(value, Enum) else value)
    if isinstance(value, tuple | list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {toml_value(v)}" for k, v in value.items()) + " }"
    if value is None:
        return "(unset)"
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 1_000_000:
        return f"{value:_}"  # TOML's digit separators: a long number reads as a number
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, SecretStr):
        return "[secret]"
    if isinstance(value, BaseModel):
        return toml_value(value.model_dump())
    return json.dumps(value, ensure_ascii=False, default=str)


def _type_name(annotation: Any) -> str:
    origin, args = get_origin(annotation), get_args(annotation)
    if annotation is SecretStr:
        return "secret"
    if origin is Literal:
        return " | ".join(json.dumps(a) for a in args)
    if origin in (Union, types.UnionType):
        shown = [_type_name(a) for a in args if a is not type(None)]
        return " | ".join(shown) + (" (optional)" if type(None) in args else "")
    if origin in (tuple, list):
        return f"list of {_type_name(args[0])}" if args else "list"
    if origin is dict:
        return f"table of {_type_name(args[1])}" if len(args) == 2 else "table"
    if origin is not None and hasattr(annotation, "__metadata__"):
        return _type_name(args[0])
    names = {str: "text", int: "integer", float: "number", bool: "true/false", Path: "path"}
    if annotation in names:
        return names[annotation]
    if annotation is timedelta:
        return 'duration ("90s", "15m", "2h", "7d")'
    return getattr(annotation, "__name__", str(annotation))


def _default(field: Any) -> str:
    if field.default is PydanticUndefined and field.default_factory is None:
        return "required"
    value = field.default_factory() if field.default_factory is not None else field.default
    return toml_value(value)


def model_settings(
    model: type[BaseModel],
    examples: dict[str, Any] | None = None,
    prefix: str = "",
    env_prefix: str = "",
) -> list[Setting]:
    """Every field of ``model`` (nested settings models flattened to dotted keys); a secret's
    example is an environment reference (``env_prefix`` + its name, unless the example config
    names the variable)."""
    out: list[Setting] = []
    for name, field in model.model_fields.items():
        key = f"{prefix}{name}"
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            nested = (examples or {}).get(name)
            nested = nested if isinstance(nested, dict) else {}
            out += model_settings(annotation, nested, key + ".", env_prefix)
            continue
        default = _default(field)
        given = (examples or {}).get(name)
        if given is not None:
            example = toml_value(given)
        elif field.examples:
            example = toml_value(field.examples[0])
        else:
            example = default if default != "required" else ""
        secret = _type_name(annotation).startswith("secret")
        if secret and given is None:
            example = f'{{ env = "{env_prefix}{name.upper()}" }}'
        description = " ".join((field.description or "").split())
        out.append(Setting(key, _type_name(annotation), default, description, example, secret))
    return out


def example_blocks(text: str | None = None) -> dict[str, list[tuple[str, str, dict[str, Any]]]]:
    """The ``[sources.*]``/``[destinations.*]`` blocks of the example config, commented or not,
    by plugin: (kind, name, keys). Commented blocks are read as if uncommented."""
    blocks: dict[str, list[tuple[str, str, dict[str, Any]]]] = {}
    current: tuple[str, str] | None = None
    lines: list[str] = []

    def flush() -> None:
        if current is None:
            return
        body = tomllib.loads("\n".join(lines))
        plugin = str(body.get("plugin", ""))
        blocks.setdefault(plugin, []).append((current[0], current[1], body))

    for raw in (text if text is not None else example_config()).splitlines():
        match = _BLOCK.match(raw.strip())
        if match:
            flush()
            current, lines = (match.group(1), match.group(2)), []
            continue
        if current is None:
            continue
        line = raw.strip()
        if line.startswith("[") or line.startswith("# ----"):
            flush()
            current, lines = None, []
            continue
        candidate = line.removeprefix("#").strip()
        if re.match(r"^[a-z_][\w]*\s*=", candidate):
            lines.append(candidate)
    flush()
    return blocks


def plugin_settings(spec: PluginSpec[Any]) -> list[Setting]:
    examples: dict[str, Any] = {}
    for _kind, _name, body in example_blocks().get(spec.name, []):
        examples.update(body)
    return model_settings(spec.settings_model, examples, env_prefix=f"{spec.name.upper()}_")


def _table(settings: list[Setting]) -> list[str]:
    lines = ["| setting | type | default | example | description |", "|---|---|---|---|---|"]
    for s in settings:
        example = f"`{s.example}`" if s.example and s.example != "(unset)" else ""
        cells = (f"`{s.key}`", s.type, s.default, example, s.description)
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return lines


def reference_markdown(registry: PluginRegistry | None = None) -> str:
    """The whole reference page: the application's sections, then each plugin's settings."""
    registry = registry or PluginRegistry()
    specs, _broken = registry.load_all()
    out = [
        "# Settings reference",
        "",
        "Generated from the settings models by `python -m connector.config.reference`; do not",
        "edit by hand. `connector plugins show NAME` prints a plugin's part. Secrets are written",
        '`{ env = "VAR" }` in the config file, or as values in the secrets file.',
        "",
        "## Application",
        "",
    ]
    tables = ("sources", "destinations", "config_path")
    out += _table([s for s in model_settings(AppConfig) if s.key not in tables])
    for title, model in (
        ("[sources.NAME]", SourceConfig),
        ("[destinations.NAME]", DestinationConfig),
    ):
        out += ["", f"## Every {title}", "", "Besides its plugin's settings:", ""]
        out += _table([s for s in model_settings(model) if s.key != "settings"])
    for spec in sorted(specs, key=lambda s: s.name):
        out += ["", f"## Plugin `{spec.name}`", "", spec.description, ""]
        out += _table(plugin_settings(spec))
    return "\n".join(out) + "\n"


if __name__ == "__main__":  # pragma: no cover - the regeneration entry point
    print(reference_markdown(), end="")
