"""Which settings are secrets: the fields a settings model types ``SecretStr``.

The type is the single statement: the config loader refuses such fields in the config file,
the redactor learns their values, and the conformance kit checks they never reach a log.
"""

from __future__ import annotations

import types
import typing
from typing import Any

from pydantic import BaseModel, SecretStr

__all__ = ["is_secret_field", "secret_fields"]


def is_secret_field(annotation: Any) -> bool:
    if annotation is SecretStr:
        return True
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        return any(is_secret_field(arg) for arg in typing.get_args(annotation))
    return False


def secret_fields(model: type[BaseModel]) -> tuple[str, ...]:
    """The model's secret fields, in declaration order."""
    return tuple(name for name, f in model.model_fields.items() if is_secret_field(f.annotation))
