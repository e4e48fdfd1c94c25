"""Crontab strings in cron's own meaning, turned into apscheduler 3 triggers.

apscheduler 3's ``CronTrigger.from_crontab`` reads weekday numbers its own way: 0 is Monday,
where cron (and every crontab a marketer copies) means Sunday, so ``0 9 * * 1-5`` would fire
Tuesday to Saturday (FACTS.md, apscheduler; fixed only in 4.x, issue #286). We expand a numeric
day-of-week field with cron's meaning (0 and 7 are Sunday) into weekday names, which apscheduler
reads unambiguously. Names (``mon-fri``) pass through; a field mixing names and numbers is
refused rather than guessed.
"""

from __future__ import annotations

import re
from datetime import timedelta

from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

__all__ = ["cron_trigger", "interval_trigger", "translate_day_of_week"]

_CRON_DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")  # cron numbering: 0 = Sunday
_ALIASES = {
    "@hourly": "0 * * * *",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@weekly": "0 0 * * sun",
    "@monthly": "0 0 1 * *",
}
_NUMERIC = re.compile(r"^(\*|\d+(?:-\d+)?)(?:/(\d+))?$")


def _expand(part: str) -> set[int]:
    m = _NUMERIC.match(part)
    if not m:
        raise ValueError(f"day-of-week {part!r}: use numbers 0-7 (0 and 7 = Sunday) or names")
    span, step_text = m.group(1), m.group(2)
    step = int(step_text) if step_text else 1
    if step < 1:
        raise ValueError(f"day-of-week {part!r}: the step must be at least 1")
    if span == "*":
        lo, hi = 0, 6
    elif "-" in span:
        lo, hi = (int(x) for x in span.split("-"))
    else:
        lo = hi = int(span)
        if step_text:
            hi = 6  # "n/step" means from n to the end of the week
    if not (0 <= lo <= 7 and 0 <= hi <= 7) or lo > hi:
        raise ValueError(f"day-of-week {part!r}: days run 0-7 (0 and 7 = Sunday)")
    return {d % 7 for d in range(lo, hi + 1, step)}


def translate_day_of_week(field: str) -> str:
    """Cron's day-of-week field → one apscheduler 3 reads the same way (names)."""
    text = field.strip().lower()
    if text in ("*", "?"):
        return "*"
    if any(c.isalpha() for c in text):
        if any(c.isdigit() for c in re.sub(r"/\d+", "", text)):
            raise ValueError(
                f"day-of-week {field!r} mixes weekday names and numbers: use one or the other"
            )
        return text
    days: set[int] = set()
    for part in text.split(","):
        days |= _expand(part)
    ordered = [d for d in (1, 2, 3, 4, 5, 6, 0) if d in days]  # apscheduler weeks start Monday
    return ",".join(_CRON_DAYS[d] for d in ordered)


def cron_trigger(expr: str, timezone: str = "UTC") -> CronTrigger:
    """A five-field crontab (or @hourly/@daily/@weekly/@monthly) with cron's weekday meaning."""
    text = _ALIASES.get(expr.strip().lower(), expr.strip())
    fields = text.split()
    if len(fields) != 5:
        raise ValueError(
            f"cron {expr!r}: expected 5 fields (minute hour day month day-of-week), "
            f"got {len(fields)}"
        )
    minute, hour, day, month, dow = fields
    return CronTrigger(
        minute=minute,
        hour=hour,
        day=day,
        month=month,
        day_of_week=translate_day_of_week(dow),
        timezone=timezone,
    )


def interval_trigger(every: timedelta, timezone: str = "UTC") -> IntervalTrigger:
    if every.total_seconds() < 1:
        raise ValueError("interval: must be at least one second")
    return IntervalTrigger(seconds=int(every.total_seconds()), timezone=timezone)
