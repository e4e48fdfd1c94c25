"""The run report as one self-contained HTML page, from Jinja2 templates (autoescaped).

Charts are static SVG from ``connector.report.charts``; a Content-Security-Policy forbids every
network fetch, so the page looks the same offline, in an e-mail attachment or years later. A few
lines of inline script only mark, for tests and the curious, how many charts the browser laid
out (``<body data-charts-drawn>``).
"""

from __future__ import annotations

import re
from datetime import datetime
from functools import cache
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup

from connector.redaction import redact
from connector.report import charts
from connector.report.collect import ReportData
from connector.report.history import lift_range, parse_time

__all__ = ["CSP", "environment", "human_time", "render"]

CSP = "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:"
_STATUS = {
    "completed": "completed",
    "completed_with_rejects": "completed; some records were rejected (see Errors)",
    "partial": "partly completed (see the note below)",
    "dry_run": "a dry run: nothing was sent",
    "failed": "failed",
    "interrupted": "stopped on request; the next run resumes",
    "running": "still running",
}


_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def _inert(value: Any) -> Any:
    """Every value a template prints loses its raw control characters before autoescaping (an
    ESC in a platform's error text must not reach a terminal showing the page's source): data
    shows them as ``\\x1b``, our own markup (charts) drops them. Redaction happens where the
    data is gathered (``collect``); here it would mask audience ids as phone numbers."""
    if isinstance(value, Markup):
        return Markup(_CONTROL.sub("", str(value)))  # noqa: S704 - already safe; controls removed
    if isinstance(value, str):
        return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", value)
    return value


@cache
def environment() -> Environment:
    return Environment(
        loader=PackageLoader("connector.report", "templates"),
        autoescape=select_autoescape(["html", "j2"], default=True),
        trim_blocks=True,
        lstrip_blocks=True,
        finalize=_inert,
    )


def human_time(text: str | None) -> str:
    at = parse_time(text)
    return f"{at:%d %b %Y, %H:%M} UTC" if at else "-"


def _label(name: str) -> str:
    return name.replace("_", " ")


def _value(v: Any) -> str:
    """A drift or metric value in words: never ``{}``, ``[]`` or ``False``."""
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        return f"{v:.4g}"
    if isinstance(v, dict):
        return "; ".join(f"{_label(str(k))}: {_value(x)}" for k, x in v.items()) or "none"
    if isinstance(v, list | tuple):
        return ", ".join(_value(x) for x in v) or "none"
    text = redact(str(v))
    return text if len(text) < 160 else text[:157] + "..."


def _segments(d: ReportData) -> dict[str, Any]:
    names = [s.name for s in d.segments]
    profile_charts = []
    top = max([100.0, *(v for idx in d.profile_index.values() for v in idx.values())])
    for s in d.segments:
        idx = d.profile_index.get(s.segment_id)
        if idx:
            profile_charts.append(
                charts.bars(
                    f"{s.name}: average member vs all customers (=100)",
                    [_label(k) for k in idx],
                    [round(v) for v in idx.values()],
                    unit="index (100 = average customer)",
                    value_range=(0, top * 1.1),
                )
            )
    h = d.history
    return {
        "segments": [[s.name, s.size, s.holdout_size, s.description] for s in d.segments],
        "size_chart": charts.bars(
            "Members per segment", names, [s.size for s in d.segments], unit="members"
        )
        if d.segments
        else "",
        "sizes_chart": charts.sizes_over_time(
            "Segment sizes per run (control group included)", h.sizes
        )
        if sum(len(p) for p in h.sizes.values()) > len(h.sizes)
        else "",
        "profile_charts": profile_charts,
    }


def _marketing(d: ReportData) -> dict[str, Any]:
    h, money = d.history, d.history.currency or "currency units"
    scale = lift_range(h.lift)
    lift = [
        {
            "segment": s.segment,
            "note": s.note,
            "chart": charts.lift_over_time(
                f"{s.segment}: extra revenue per member vs control",
                s.points,
                unit=f"revenue per member, {money}",
                value_range=scale,
            )
            if s.points
            else "",
        }
        for s in h.lift
    ]
    audiences = [
        [
            a.destination,
            a.segment,
            a.where or "(no platform id: file or event stream)",
            a.members,
            f"{a.match_rate:.0%}" if a.match_rate is not None else "not reported by the platform",
        ]
        for a in h.audiences
    ]
    reach = [[r.segment, r.members, r.email, r.ads] for r in h.reach]
    return {"lift": lift, "audiences": audiences, "reach": reach, "currency": h.currency}


def _scores(d: ReportData) -> list[str]:
    money = d.history.currency
    return [
        charts.histogram(
            f"{_label(name)}: how it is spread",
            bins.lo,
            bins.width,
            bins.counts,
            unit=f"{_label(name)} ({money})" if money and "clv" in name else _label(name),
        )
        for name, bins in d.scores.items()
        if bins.counts
    ]


def _cards(d: ReportData) -> list[dict[str, Any]]:
    out = []
    for card in d.model_cards:
        metrics = [
            [_label(k), f"{v:.4g}"]
            for k, v in card.items()
            if isinstance(v, int | float) and not isinstance(v, bool)
        ]
        points = [_calibration_point(p) for p in card.get("calibration") or []]
        name = str(card.get("model", "model"))
        out.append(
            {
                "name": name,
                "notes": [str(card[k]) for k in ("method", "fallback_reason") if card.get(k)]
                + _sufficiency(card.get("sufficiency")),
                "metrics": metrics,
                "chart": charts.calibration(f"Calibration: {name}", points) if points else "",
            }
        )
    return out


def _sufficiency(verdict: object) -> list[str]:
    """Whether the data was recent and rich enough, and why the scores were held if not."""
    if not isinstance(verdict, dict):
        return []
    if verdict.get("status") == "sufficient":
        return ["Data sufficient for forecasts."]
    held = "not pushed" if not verdict.get("predictive_traits_pushed") else "pushed anyway"
    why = "; ".join(str(r) for r in verdict.get("reasons", []))
    return [f"Data insufficient, predictive scores {held}: {why}"]


def _calibration_point(point: Any) -> tuple[float, float]:
    """(predicted, observed) from the shapes model cards use: pairs, or dicts keyed
    predicted/observed or mean_predicted/observed_rate (the full engine's bins)."""
    if isinstance(point, dict):
        predicted: Any = point.get("predicted", point.get("mean_predicted", 0.0))
        observed: Any = point.get("observed", point.get("observed_rate", 0.0))
        return float(predicted), float(observed)
    return float(point[0]), float(point[1])


def _drift(d: ReportData) -> dict[str, Any]:
    model = d.run.stages.get("model", {})
    names = {**(d.previous.stages.get("model", {}) if d.previous else {}).get("names", {})}
    names.update(model.get("names", {}))
    now = model.get("segments", {})
    before = (d.previous.stages.get("model", {}) if d.previous else {}).get("segments", {})
    rows = [
        [names.get(sid, sid), int(before.get(sid, 0)), int(now.get(sid, 0)),
         int(now.get(sid, 0)) - int(before.get(sid, 0))]
        for sid in sorted(set(now) | set(before))
    ]  # fmt: skip
    return {
        "drift": [[_label(str(k)), _value(v)] for k, v in (model.get("drift") or {}).items()],
        "previous": d.previous.run_id if d.previous and before else "",
        "size_changes": rows,
    }


def _sync(d: ReportData) -> dict[str, Any]:
    apply, plan = d.run.stages.get("apply") or {}, d.run.stages.get("plan") or {}
    rows, labels, sent = [], [], []
    for name in sorted(k for k in set(apply) | set(plan) if isinstance(plan.get(k), dict)):
        found = apply.get(name)
        entry: dict[str, Any] = found if isinstance(found, dict) else {}
        p = plan[name]
        skipped = entry.get("skipped") or {}
        note = entry.get("held") or "; ".join(f"{n} {why}" for why, n in skipped.items())
        rows.append(
            [name, int(p.get("create", 0)), int(p.get("update", p.get("upsert", 0))),
             int(p.get("add", 0)), int(p.get("remove", 0)), int(entry.get("applied", 0)),
             int(entry.get("rejected", 0)), int(entry.get("retryable", 0)), redact(str(note))]
        )  # fmt: skip
        labels.append(name)
        sent.append(float(entry.get("applied", 0)))
    chart = charts.bars("Changes sent per destination", labels, sent, unit="changes")
    return {"sync": rows, "sync_chart": chart if any(sent) else ""}


def render(d: ReportData) -> str:
    r = d.run
    started = parse_time(r.started_at) or datetime.min
    c = r.counts
    kpis = [
        ("customers (profiles)", f"{d.profiles:,}"),
        ("segments", f"{len(d.segments):,}"),
        ("changes sent", f"{int(c.get('applied', 0)):,}"),
        ("rejected", f"{int(c.get('rejected', 0)):,}"),
    ]
    context = {
        "csp": CSP,
        "run": r,
        "headline": f"Customer segments and activation, {started:%d %B %Y}",
        "status_text": _STATUS.get(r.status, r.status),
        "started": human_time(r.started_at),
        "ended": human_time(r.ended_at) if r.ended_at else "",
        "kpis": kpis,
        "score_charts": _scores(d),
        "cards": _cards(d),
        "errors": [list(e) for e in d.errors],
        "warnings": [list(w) for w in d.warnings],
        "privacy": [list(p) for p in d.privacy],
        **_segments(d),
        **_marketing(d),
        **_drift(d),
        **_sync(d),
    }
    return environment().get_template("run.html.j2").render(context)
