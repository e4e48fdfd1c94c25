"""Logging set-up: text or JSON lines, with secrets and raw contact details redacted.

Every secret the config loader resolves is registered here; a filter replaces registered
secrets, email addresses and phone-like digit runs in every record before any handler sees it.
Code names people by ``profile_id``; the filter is the safety net for what slips through
(exception messages from SDKs, URLs with keys).
"""

from __future__ import annotations

import json
import logging
import re
import sys
import threading
from datetime import UTC, datetime
from typing import Any

__all__ = [
    "JsonFormatter",
    "RedactingFilter",
    "install_library_redaction",
    "redact",
    "register_secret",
    "setup_logging",
]

_SECRETS: set[str] = set()
_LOCK = threading.Lock()
_EMAIL = re.compile(r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9.\-]+\.[A-Za-z]{2,}")
_PHONE = re.compile(r"(?<![\w.])\+?\d[\d ().\-]{7,}\d(?![\w.])")
_BEARER = re.compile(r"(?i)(bearer|basic|klaviyo-api-key)\s+[A-Za-z0-9._~+/=\-]+")
_JSON_SECRET = re.compile(
    r'(?i)("(?:writeKey|write_key|api_?key|access_?token|refresh_?token|client_?secret|password|'
    r'secret|token|private_?key)"\s*:\s*)"[^"]*"'
)
_KEY_PARAM = re.compile(r"(?i)((?:access_token|api_key|apikey|key|token)=)[^&\s]+")


def register_secret(value: str) -> None:
    """Remember a secret so that no log line can contain it."""
    if value and len(value) >= 4:
        with _LOCK:
            _SECRETS.add(value)


def redact(text: str) -> str:
    with _LOCK:
        secrets = sorted(_SECRETS, key=len, reverse=True)
    for secret in secrets:
        if secret in text:
            text = text.replace(secret, "[secret]")
    text = _BEARER.sub(r"\1 [secret]", text)
    text = _KEY_PARAM.sub(r"\1[secret]", text)
    text = _JSON_SECRET.sub(r'\1"[secret]"', text)
    text = _EMAIL.sub("[email]", text)
    return _PHONE.sub(_phone_sub, text)


def _phone_sub(match: re.Match[str]) -> str:
    digits = sum(c.isdigit() for c in match.group(0))
    # ISO timestamps and long ids are not phones: require 9-15 digits and a phone-ish shape.
    if 9 <= digits <= 15 and not re.fullmatch(r"\d{4}-\d{2}-\d{2}.*", match.group(0)):
        return "[phone]"
    return match.group(0)


class RedactingFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        clean = redact(message)
        if record.exc_info and record.exc_info[1] is not None:
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        record.msg = clean
        record.args = None
        return True


# Loggers of the HTTP stacks the SDKs use. Their DEBUG lines carry full URLs, and some APIs
# (Meta's Graph API) put the access token in the query string. A filter on the logger itself
# runs before any handler, ours or a user's, so the record is clean wherever it goes.
LIBRARY_LOGGERS = (
    "urllib3.connectionpool",
    "httpx",
    "httpcore.connection",
    "httpcore.http11",
    "requests",
    "facebook_business",
    "segment",
    "hubspot",
    "klaviyo_api",
    "openapi_client",
)


def install_library_redaction() -> None:
    """Attach the redacting filter to the HTTP libraries' loggers (idempotent)."""
    for name in LIBRARY_LOGGERS:
        lib = logging.getLogger(name)
        if not any(isinstance(f, RedactingFilter) for f in lib.filters):
            lib.addFilter(RedactingFilter())


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key in ("run_id", "stage", "plugin", "profile_id"):
            if hasattr(record, key):
                payload[key] = getattr(record, key)
        if record.exc_text:
            payload["exc"] = record.exc_text
        return json.dumps(payload, ensure_ascii=False)


def setup_logging(level: str = "INFO", fmt: str = "text") -> None:
    """Configure the ``connector`` and plugin loggers once (idempotent)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(RedactingFilter())
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s"))
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, "_connector", False)]:
        root.removeHandler(old)
    handler._connector = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(logging.WARNING)
    for name in ("connector", "cdp"):
        logging.getLogger(name).setLevel(level)
    for name in (
        "cdp_files",
        "cdp_hubspot",
        "cdp_klaviyo",
        "cdp_segment",
        "cdp_meta",
        "cdp_google_ads",
    ):
        logging.getLogger(name).setLevel(level)
