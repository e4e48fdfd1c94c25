"""Warn when an audience name suggests a sensitive attribute of the people in it.

Meta's advertising standards forbid ads that assert or imply personal attributes, naming health
(medical conditions, mental health) and financial status among them; audience names show up in
Ads Manager and in reviews, so a name like "Diabetes patients" or "Debt > 10k" is a policy risk
even when the targeting is legitimate. This is a lint, not a block: it returns what it found and
the sink logs a warning.
"""

from __future__ import annotations

import logging
import re

__all__ = ["lint_audience_name"]

_TERMS: dict[str, tuple[str, ...]] = {
    "health": (
        r"diabet\w*",
        r"cancer",
        r"hiv",
        r"aids",
        r"pregnan\w*",
        r"fertility",
        r"ivf",
        r"depress\w*",
        r"anxiety",
        r"mental",
        r"bipolar",
        r"adhd",
        r"autis\w*",
        r"disease\w*",
        r"illness\w*",
        r"medical",
        r"medication\w*",
        r"prescription\w*",
        r"patient\w*",
        r"obes\w*",
        r"overweight",
        r"weight[- ]?loss",
        r"addict\w*",
        r"rehab",
        r"disab\w*",
        r"therapy",
        r"diagnos\w*",
        r"chronic",
        r"std",
        r"pharma\w*",
    ),
    "financial": (
        r"debt\w*",
        r"bankrupt\w*",
        r"insolven\w*",
        r"low[- ]?income",
        r"poor",
        r"poverty",
        r"broke",
        r"payday",
        r"loan\w*",
        r"credit[- ]?score\w*",
        r"bad[- ]?credit",
        r"arrears",
        r"default(?:ed|ers?)?",
        r"foreclos\w*",
        r"unemploy\w*",
        r"welfare",
        r"benefits? claimants?",
        r"financial[- ]?hardship",
        r"overdra\w*",
        r"salary",
        r"net[- ]?worth",
        r"wealthy",
        r"rich",
    ),
}
_PATTERNS = {
    category: re.compile(r"\b(?:" + "|".join(terms) + r")\b", re.IGNORECASE)
    for category, terms in _TERMS.items()
}


def lint_audience_name(name: str, logger: logging.Logger | None = None) -> list[str]:
    """Findings like ``"health: diabetes"``; logs one warning when there are any."""
    findings = [
        f"{category}: {match.group(0).lower()}"
        for category, pattern in _PATTERNS.items()
        for match in pattern.finditer(name)
    ]
    if findings and logger is not None:
        logger.warning(
            "audience name %r suggests a sensitive attribute (%s); Meta's advertising "
            "standards forbid implying health or financial status: consider a neutral name",
            name,
            ", ".join(findings),
        )
    return findings
