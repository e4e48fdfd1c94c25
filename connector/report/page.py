"""The run report as one self-contained HTML page: inline CSS and SVG, no external resources.

A Content-Security-Policy forbids every network fetch, so the page looks the same offline, in an
e-mail attachment or years later. A few lines of inline script only mark, for tests and the
curious, how many charts the browser laid out (``<body data-charts-drawn>``).
"""

from __future__ import annotations

from typing import Any

from connector.redaction import redact
from connector.report.collect import ReportData
from connector.report.escape import escape
from connector.report.svg import bar_chart, calibration_plot, histogram, index_bars

__all__ = ["render"]

_CSS = """
body{font:14px/1.45 system-ui,sans-serif;margin:24px auto;max-width:1100px;color:#1d232a}
h1{font-size:22px}h2{font-size:17px;margin-top:28px;border-bottom:1px solid #dde}
table{border-collapse:collapse;margin:8px 0}td,th{padding:3px 10px;border-bottom:1px solid #eee;
text-align:left}td.n{text-align:right;font-variant-numeric:tabular-nums}
.grid{display:flex;flex-wrap:wrap;gap:18px}.muted{color:#667}svg.chart text{font-size:11px}
svg.chart .ct{font-size:13px;font-weight:600}.bad{color:#b3261e}.ok{color:#1e7b34}
"""
_SCRIPT = """
window.addEventListener('load', function () {
  var charts = document.querySelectorAll('svg.chart'), drawn = 0;
  charts.forEach(function (svg) {
    var marks = svg.querySelectorAll('.mark'), ok = false;
    marks.forEach(function (m) {
      var b = m.getBBox();
      if (b.width > 0 && b.height > 0) ok = true;
    });
    if (ok) drawn += 1;
  });
  document.body.setAttribute('data-charts', String(charts.length));
  document.body.setAttribute('data-charts-drawn', String(drawn));
});
"""
_CSP = "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:"


def _table(headers: list[str], rows: list[list[Any]]) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = "".join(
        "<tr>"
        + "".join(
            f'<td class="n">{v:,}</td>' if isinstance(v, int) else f"<td>{escape(str(v))}</td>"
            for v in row
        )
        + "</tr>"
        for row in rows
    )
    return f"<table><tr>{head}</tr>{body}</table>"


def _segments(d: ReportData) -> str:
    if not d.segments:
        return '<p class="muted">No segments yet.</p>'
    rows = [[s.name, s.kind, s.size, s.holdout_size, s.description] for s in d.segments]
    out = _table(["segment", "kind", "members", "holdout", "description"], rows)
    out += bar_chart("Segment sizes", [s.name for s in d.segments], [s.size for s in d.segments])
    charts = []
    for s in d.segments:
        idx = d.profile_index.get(s.segment_id)
        if idx:
            charts.append(
                index_bars(
                    f"{s.name}: mean profile vs population (=100)", list(idx), list(idx.values())
                )
            )
    if charts:
        out += (
            "<h3>What distinguishes each segment</h3><div class='grid'>"
            + "".join(charts)
            + "</div>"
        )
    return out


def _scores(d: ReportData) -> str:
    if not d.scores:
        return '<p class="muted">No scores yet.</p>'
    return "<div class='grid'>" + "".join(histogram(k, v) for k, v in d.scores.items()) + "</div>"


def _calibration_point(point: Any) -> tuple[float, float]:
    """(predicted, observed) from the shapes model cards use: pairs, or dicts keyed
    predicted/observed or mean_predicted/observed_rate (the full engine's bins)."""
    if isinstance(point, dict):
        predicted: Any = point.get("predicted", point.get("mean_predicted", 0.0))
        observed: Any = point.get("observed", point.get("observed_rate", 0.0))
        return float(predicted), float(observed)
    return float(point[0]), float(point[1])


def _cards(d: ReportData) -> str:
    if not d.model_cards:
        return '<p class="muted">No model cards for this run (rule-based scores only).</p>'
    out = []
    for card in d.model_cards:
        metrics = {
            k: v for k, v in card.items() if isinstance(v, int | float) and not isinstance(v, bool)
        }
        out.append(f"<h3>{escape(str(card.get('model', 'model')))}</h3>")
        for label in ("method", "fallback_reason"):
            if card.get(label):
                out.append(f'<p class="muted">{escape(str(card[label]))}</p>')
        out.append(_sufficiency(card.get("sufficiency")))
        out.append(_table(["metric", "value"], [[k, f"{v:.4g}"] for k, v in metrics.items()]))
        cal = card.get("calibration") or []
        points = [_calibration_point(p) for p in cal]
        if points:
            out.append(calibration_plot(f"Calibration: {card.get('model', '')}", points))
    return "".join(out)


def _sufficiency(verdict: object) -> str:
    """Whether the data was recent and rich enough, and why the scores were held if not."""
    if not isinstance(verdict, dict):
        return ""
    if verdict.get("status") == "sufficient":
        return '<p class="muted">Data sufficient for forecasts.</p>'
    held = "not pushed" if not verdict.get("predictive_traits_pushed") else "pushed anyway"
    why = "; ".join(str(r) for r in verdict.get("reasons", []))
    return f'<p class="bad">Data insufficient, predictive scores {held}: {escape(why)}</p>'


def _drift(d: ReportData) -> str:
    model = d.run.stages.get("model", {})
    out = []
    drift = model.get("drift") or {}
    if drift:
        out.append(_table(["measure", "value"], [[k, _short(v)] for k, v in drift.items()]))
    now, before = (
        model.get("segments", {}),
        (d.previous.stages.get("model", {}) if d.previous else {}).get("segments", {}),
    )
    if before:
        rows = [
            [
                sid,
                int(before.get(sid, 0)),
                int(now.get(sid, 0)),
                int(now.get(sid, 0)) - int(before.get(sid, 0)),
            ]
            for sid in sorted(set(now) | set(before))
        ]
        out.append(
            f"<p>Segment sizes since run {escape(d.previous.run_id)}:</p>" if d.previous else ""
        )
        out.append(_table(["segment", "before", "now", "change"], rows))
    return "".join(out) or '<p class="muted">No previous run to compare with.</p>'


def _short(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    text = redact(str(v))
    return text if len(text) < 120 else text[:117] + "..."


def _sync(d: ReportData) -> str:
    apply = d.run.stages.get("apply") or {}
    plan = d.run.stages.get("plan") or {}
    dests = sorted(
        k for k in set(apply) | set(plan) if isinstance((apply.get(k) or plan.get(k)), dict)
    )
    rows, labels, applied = [], [], []
    for name in dests:
        entry = apply.get(name, {}) if isinstance(apply.get(name), dict) else {}
        planned = entry.get("planned") or plan.get(name) or {}
        total = (
            sum(v for v in planned.values() if isinstance(v, int))
            if isinstance(planned, dict)
            else 0
        )
        rates = entry.get("match_rates") or {}
        rate = f"{sum(rates.values()) / len(rates):.0%}" if rates else "-"
        rows.append(
            [
                name,
                total,
                int(entry.get("applied", 0)),
                int(entry.get("rejected", 0)),
                int(entry.get("retryable", 0)),
                rate,
            ]
        )
        labels.append(name)
        applied.append(float(entry.get("applied", 0)))
    if not rows:
        return '<p class="muted">No destinations.</p>'
    out = _table(["destination", "planned", "applied", "rejected", "to retry", "match rate"], rows)
    if any(applied):
        out += bar_chart("Changes applied per destination", labels, applied)
    return out


def _errors(d: ReportData) -> str:
    warned = (
        _table(["source", "stream", "warnings", "first warnings"], [list(w) for w in d.warnings])
        if d.warnings
        else ""
    )
    if not d.errors:
        return '<p class="ok">No per-record errors.</p>' + warned
    errors = _table(["stage", "plugin", "reason", "records"], [list(e) for e in d.errors])
    return (
        warned
        + errors
        + (
            '<p class="muted">Every record: '
            f"<code>connector runs show {escape(d.run.run_id)}</code></p>"
        )
    )


def render(d: ReportData) -> str:
    r = d.run
    counts = ", ".join(f"{k} {v:,}" for k, v in r.counts.items() if isinstance(v, int))
    status_class = "ok" if r.status in ("completed", "dry_run") else "bad"
    sections = [
        ("Segments", _segments(d)),
        ("Score distributions", _scores(d)),
        ("Model cards", _cards(d)),
        ("Drift since the previous run", _drift(d)),
        ("Sync results", _sync(d)),
        ("Errors", _errors(d)),
    ]
    body = "".join(f"<h2>{escape(t)}</h2>{html}" for t, html in sections)
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{_CSP}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Run {escape(r.run_id)}: cdp-connector report</title><style>{_CSS}</style></head>
<body><h1>Run {escape(r.run_id)}</h1>
<p>Status <b class="{status_class}">{escape(r.status)}</b>; started {escape(r.started_at)},
ended {escape(r.ended_at or "-")}; {d.profiles:,} profiles. {escape(counts)}</p>
{f'<p class="bad">{escape(r.message)}</p>' if r.message else ""}
{body}
<script>{_SCRIPT}</script></body></html>
"""
