"""HTML text for the report: redacted, control characters made inert, then escaped."""

from __future__ import annotations

import html

from connector.redaction import redact

__all__ = ["escape"]


def escape(value: object) -> str:
    """Data from platforms and configs may carry PII, escapes or markup; none reaches the page."""
    return html.escape(redact(str(value)), quote=True)
