"""Masks secrets and raw contact details in any text before it leaves the process.

One function, :func:`redact`, is the choke point for log lines, stored run records and errors,
the HTML report and everything the CLI prints. It masks:

- every secret the config loader resolved (registered here), its base64 forms, and fragments of
  it long enough to mean something (a platform echoing "key ending in 9f3a2c1b");
- credentials in their usual shapes: ``Bearer``/``Basic`` headers, ``key=`` query parameters,
  JSON secret fields, URL userinfo, base64 ``user:password`` blobs, truncated token echoes
  (``pk_abc...xyz``);
- email addresses in any script (``søren@…``, ``user@bücher.de``, punycode ``xn--`` domains);
- phone numbers, while leaving dates, times and epoch-millisecond folder names alone;
- terminal control sequences (ESC, other C0/C1 controls), shown as inert ``\\x1b`` text.
"""

from __future__ import annotations

import base64
import binascii
import re
import threading

__all__ = [
    "mask_email",
    "mask_phone",
    "neutralise_controls",
    "redact",
    "redact_secrets_and_pii",
    "register_secret",
]

_SECRETS: set[str] = set()
_GRAMS: set[str] = set()  # fragments of registered secrets long enough to identify them
_LOCK = threading.Lock()
_GRAM = 8  # a fragment of this many letters and digits (mixed) is treated as the secret

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.\-]*://[^/\s:@]*:)[^@\s/]+@")
_BEARER = re.compile(
    r"(?i)\b(bearer|basic|klaviyo-api-key)(\s+|%20|\+)(?!\[secret\])([A-Za-z0-9._~+/=%\-]+)"
)
_HEADER = re.compile(
    r"(?i)\b((?:proxy-)?authorization|x-api-key|api-key|apikey|x-auth-token)"
    r"([\"']?\s*[:=]\s*[\"']?)(?!bearer|basic|token|klaviyo-api-key|\[secret\])[^\s\"',;&]+"
)
_JSON_SECRET = re.compile(
    r'(?i)("(?:writeKey|write_key|api_?key|access_?token|refresh_?token|client_?secret|password|'
    r'secret|token|private_?key|authorization)"\s*:\s*)"[^"]*"'
)
_KEY_PARAM = re.compile(r"(?i)((?:access_token|api_key|apikey|key|token)=)[^&\s]+")
_TRUNCATED = re.compile(r"(?<![\w.])[\w\-]{2,}(?:\.{3,}|…|\*{3,})[\w\-]{2,}(?![\w])")
_ENDING = re.compile(
    r"(?i)\b((?:ending|ends|starting|starts|beginning|begins)\s+(?:in|with)\s+['\"]?)"
    r"([A-Za-z0-9_\-]{3,})"
)
_KEYWORD = re.compile(r"(?i)\b(?:key|token|secret|password|credential)s?\b(?:\W+\w+)?\W*$")
_B64 = re.compile(r"(?<![\w+/\-])[A-Za-z0-9+/_\-]{12,}={0,2}(?![\w+/=\-])")
_CREDENTIAL = re.compile(r"[^\s:]{1,}:[^\s]{4,}")
_RUN = re.compile(r"[A-Za-z0-9]{8,}")
# Unicode-aware: \w covers ø, ü, 用; domains may be IDN or punycode; full-width @ counts too.
_EMAIL = re.compile(
    r"(?<![\w.%+\-])[\w.%+\-!#$&^~]+(?:[@\uff20]|%40)(?:[\w\-]+[.\u3002\uff0e])+(?:[^\W\d_]{2,}|xn--[\w\-]+)"
)
_PHONE = re.compile(r"(?<![\w.])\+?\d[\d ().\-]{7,}\d(?![\w.])")
# Shapes that look like phones to the digit pattern but are dates, times or epoch milliseconds
_NOT_PHONE = re.compile(
    r"\d{4}[-/.]\d{1,2}[-/.]\d{1,2}(?:[T ]\d{1,2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?)?"
    r"(?:Z|[+-]\d{2}:?\d{2}(?!\d))?"
    r"|\d{1,2}[-/.]\d{1,2}[-/.]\d{4}(?:[T ]\d{1,2}:\d{2}(?::\d{2})?)?"
    r"|\d{1,2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?"
    r"|(?<![\d+])(?:1\d|2[01])\d{11}(?!\d)"  # epoch ms 2001-2036: Segment's day folders
)
_HOLD = "\ue000"  # a private-use character stands in for a protected date while phones are masked


def register_secret(value: str) -> None:
    """Remember a secret so that no output can contain it, whole, encoded or in part."""
    if not value or len(value) < 4:
        return
    forms = {value}
    raw = value.encode()
    for enc in (base64.b64encode(raw), base64.urlsafe_b64encode(raw)):
        forms.update({enc.decode(), enc.decode().rstrip("=")})
    grams = {
        run[i : i + _GRAM]
        for run in _RUN.findall(value)
        for i in range(len(run) - _GRAM + 1)
        if _mixed(run[i : i + _GRAM])
    }
    with _LOCK:
        _SECRETS.update(f for f in forms if len(f) >= 4)
        _GRAMS.update(grams)


def _mixed(text: str) -> bool:
    return any(c.isdigit() for c in text) and any(c.isalpha() for c in text)


def neutralise_controls(text: str) -> str:
    """Show terminal escapes and other control characters as inert text (``\\x1b``)."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group(0)):02x}", text)


def mask_email(email: str | None) -> str:
    """An address a marketer recognises without it being disclosed: ``j***@example.com``
    (the first letter and the domain; :func:`redact` leaves this shape alone)."""
    if not email or "@" not in email:
        return "-"
    local, _, domain = email.rpartition("@")
    return f"{neutralise_controls(local[:1])}***@{neutralise_controls(domain)}"


def mask_phone(phone: str) -> str:
    """A phone number a marketer recognises without it being disclosed: ``+44 *** 56`` (the
    country code and the last two digits). Spaced: ``+44***56`` reads to :func:`redact` as a
    truncated secret, this shape it leaves alone."""
    return f"{neutralise_controls(phone[:3])} *** {neutralise_controls(phone[-2:])}"


def redact(text: str, *, contacts: bool = True, phones: bool = True) -> str:
    """Secrets and contact details masked, control characters made inert. ``contacts=False``
    leaves e-mail addresses and phone-like numbers alone (a setting's own value: an account id
    of ten digits, the placeholder addresses identity never joins on), secrets still masked;
    ``phones=False`` only the numbers (a platform's record id of eleven digits)."""
    return redact_secrets_and_pii(neutralise_controls(text), contacts=contacts, phones=phones)


def redact_secrets_and_pii(text: str, *, contacts: bool = True, phones: bool = True) -> str:
    """Mask secrets and contact details but keep control characters (for rendered output)."""
    with _LOCK:
        secrets = sorted(_SECRETS, key=len, reverse=True)
        grams = frozenset(_GRAMS)
    for secret in secrets:
        if secret in text:
            text = text.replace(secret, "[secret]")
    if grams:
        text = _RUN.sub(lambda m: "[secret]" if _has_gram(m.group(0), grams) else m.group(0), text)
    text = _USERINFO.sub(r"\1[secret]@", text)
    text = _BEARER.sub(_bearer_sub, text)
    text = _HEADER.sub(r"\1\2[secret]", text)
    text = _KEY_PARAM.sub(r"\1[secret]", text)
    text = _JSON_SECRET.sub(r'\1"[secret]"', text)
    text = _B64.sub(lambda m: _b64_sub(m.group(0), secrets, grams), text)
    text = _TRUNCATED.sub("[secret]", text)
    text = _ENDING.sub(_ending_sub, text)
    if not contacts:
        return text
    text = _EMAIL.sub("[email]", text)
    return _mask_phones(text) if phones else text


def _bearer_sub(match: re.Match[str]) -> str:
    """'Bearer <token>' masks a token-shaped word, not the prose 'Basic settings'."""
    word = match.group(3)
    tokenish = len(word) >= 16 or (len(word) >= 6 and not word.isalpha())
    return f"{match.group(1)}{match.group(2)}[secret]" if tokenish else match.group(0)


def _has_gram(run: str, grams: frozenset[str]) -> bool:
    return any(run[i : i + _GRAM] in grams for i in range(len(run) - _GRAM + 1))


def _b64_decode(token: str) -> str | None:
    body = token.rstrip("=")
    if len(body) % 4 == 1:
        return None
    padded = body + "=" * (-len(body) % 4)
    alt = b"-_" if ("-" in body or "_" in body) else b"+/"
    try:
        text = base64.b64decode(padded, altchars=alt, validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        return None
    return text if text and text.isprintable() else None


def _b64_sub(token: str, secrets: list[str], grams: frozenset[str]) -> str:
    """A base64 blob that decodes to a credential, a known secret or an address is masked."""
    decoded = _b64_decode(token)
    if decoded is None:
        return token
    if (
        _CREDENTIAL.fullmatch(decoded)
        or any(s in decoded for s in secrets)
        or any(_has_gram(run, grams) for run in _RUN.findall(decoded))
        or _EMAIL.search(decoded)
    ):
        return "[secret]"
    return token


def _ending_sub(match: re.Match[str]) -> str:
    """'key ending in 9f3a2c1b': a fragment echoed by a platform is masked."""
    before = match.string[max(0, match.start() - 40) : match.start()]
    fragment = match.group(2)
    if any(c.isdigit() for c in fragment) or _KEYWORD.search(before):
        return match.group(1) + "[secret]"
    return match.group(0)


def _mask_phones(text: str) -> str:
    held: list[str] = []
    text = text.replace(_HOLD, "\ufffd")

    def hold(match: re.Match[str]) -> str:
        held.append(match.group(0))
        return _HOLD

    text = _NOT_PHONE.sub(hold, text)
    text = _PHONE.sub(_phone_sub, text)
    if held:
        parts = text.split(_HOLD)
        text = parts[0] + "".join(h + p for h, p in zip(held, parts[1:], strict=True))
    return text


def _phone_sub(match: re.Match[str]) -> str:
    digits = sum(c.isdigit() for c in match.group(0))
    return "[phone]" if 9 <= digits <= 15 else match.group(0)
