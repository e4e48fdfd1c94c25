"""JSON:API plumbing of the Klaviyo emulator: filter expressions, cursors, links, error bodies.

Klaviyo filters look like ``equals(metric_id,"X"),greater-than(datetime,2024-01-01T00:00:00Z)``
(a comma at the top level means AND; lists are ``["a","b"]``). Cursors are opaque keyset
positions, so a page sequence stays exact while records are added behind it.
"""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

__all__ = [
    "PUBLIC_HOST",
    "FilterError",
    "Term",
    "decode_cursor",
    "encode_cursor",
    "error_body",
    "iso",
    "page_links",
    "parse_filter",
    "parse_time",
]

# Links point at the real host: the SDK only extracts page[cursor] from https:// links.
PUBLIC_HOST = "https://a.klaviyo.com"


class FilterError(ValueError):
    """A filter, sort or cursor the real API would refuse with 400."""

    def __init__(self, detail: str, parameter: str = "filter") -> None:
        super().__init__(detail)
        self.detail = detail
        self.parameter = parameter


@dataclass(frozen=True, slots=True)
class Term:
    op: str
    field: str
    value: Any


def _split_top(text: str, sep: str = ",") -> list[str]:
    parts: list[str] = []
    depth = 0
    quote: str | None = None
    start = 0
    for i, ch in enumerate(text):
        if quote:
            if ch == quote:
                quote = None
        elif ch in "\"'":
            quote = ch
        elif ch in "([":
            depth += 1
        elif ch in ")]":
            depth -= 1
        elif ch == sep and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    return [p.strip() for p in parts if p.strip()]


def _value(raw: str) -> Any:
    raw = raw.strip()
    if raw.startswith("["):
        return [_value(v) for v in _split_top(raw[1:-1])]
    if len(raw) >= 2 and raw[0] == raw[-1] and raw[0] in "\"'":
        return raw[1:-1]
    if raw in ("true", "false"):
        return raw == "true"
    if raw == "null":
        return None
    return raw


def parse_filter(text: str | None) -> list[Term]:
    """Parse a filter into AND-ed terms; raise ``FilterError`` for anything malformed."""
    if not text:
        return []
    terms: list[Term] = []
    for part in _split_top(text):
        if "(" not in part or not part.endswith(")"):
            raise FilterError(f"Invalid filter provided: {part[:80]}")
        op, inner = part[: part.index("(")], part[part.index("(") + 1 : -1]
        if op == "and":
            terms.extend(parse_filter(inner))
            continue
        args = _split_top(inner)
        if len(args) != 2:
            raise FilterError(f"Invalid filter provided: {part[:80]}")
        terms.append(Term(op, args[0], _value(args[1])))
    return terms


def parse_time(value: object, *, parameter: str = "filter") -> float:
    """ISO-8601 (``Z`` or offset) to epoch seconds."""
    if not isinstance(value, str):
        raise FilterError(f"Invalid date-time value: {value!r}", parameter)
    text = value.strip().replace("Z", "+00:00")
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise FilterError(f"Invalid date-time value: {value[:40]!r}", parameter) from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.timestamp()


def iso(ts: float | None) -> str | None:
    """Klaviyo's timestamp format: second precision with an explicit UTC offset."""
    if ts is None:
        return None
    return datetime.fromtimestamp(int(ts), UTC).strftime("%Y-%m-%dT%H:%M:%S+00:00")


def encode_cursor(sort: str, key: tuple[Any, str]) -> str:
    raw = json.dumps({"s": sort, "k": list(key)}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, sort: str) -> tuple[Any, str]:
    """Decode a cursor made for ``sort``; tolerate the SDK's leading ``=`` (facts 3.1)."""
    text = cursor.lstrip("=")
    try:
        data = json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
        if data["s"] != sort:
            raise FilterError("Invalid cursor provided.", "page[cursor]")
        key, ident = data["k"]
    except (ValueError, KeyError, TypeError, binascii.Error):
        raise FilterError("Invalid cursor provided.", "page[cursor]") from None
    return key, str(ident)


def page_links(path: str, query: dict[str, list[str]], next_cursor: str | None) -> dict[str, str]:
    """``links`` of a collection: self and, when there is more, next with the same query."""
    base = {k: v[0] for k, v in query.items() if k != "page[cursor]" and v}
    links = {"self": f"{PUBLIC_HOST}{path}/?{urlencode(base)}".rstrip("?")}
    if next_cursor is not None:
        links["next"] = f"{PUBLIC_HOST}{path}/?{urlencode({**base, 'page[cursor]': next_cursor})}"
    return links


def error_body(
    status: int,
    code: str,
    title: str,
    detail: str,
    *,
    pointer: str | None = None,
    parameter: str | None = None,
    meta: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Klaviyo's JSON:API error document (spec ``ClientError``; ``status`` as real responses)."""
    source: dict[str, str] = {}
    if pointer is not None:
        source["pointer"] = pointer
    if parameter is not None:
        source["parameter"] = parameter
    error: dict[str, Any] = {
        "id": str(uuid.uuid4()),
        "status": status,
        "code": code,
        "title": title,
        "detail": detail,
        "source": source or {"pointer": "/data/"},
        "links": {},
        "meta": meta or {},
    }
    return {"errors": [error]}
