"""Charts as inline SVG, drawn in Python: the report renders offline, with no script library.

Every chart is an ``<svg class="chart">`` with a ``<title>`` (screen readers, hover) and marks
of class ``mark``, so a test can check in a browser that marks were laid out.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from connector.redaction import redact
from connector.report.escape import escape

__all__ = ["bar_chart", "calibration_plot", "histogram", "index_bars"]

_W, _H = 520, 220
_PAD_L, _PAD_R, _PAD_T, _PAD_B = 130, 16, 24, 28
_BLUE, _GREY, _ORANGE = "#3566a8", "#b8c2cc", "#d9822b"


def _fmt(v: float) -> str:
    if abs(v) >= 1000:
        return f"{v:,.0f}"
    return f"{v:.3g}"


def _svg(title: str, body: str, height: int = _H) -> str:
    return (
        f'<svg class="chart" role="img" viewBox="0 0 {_W} {height}" width="{_W}" '
        f'height="{height}" xmlns="http://www.w3.org/2000/svg"><title>{escape(title)}</title>'
        f'<text x="4" y="15" class="ct">{escape(title)}</text>{body}</svg>'
    )


def bar_chart(title: str, labels: Sequence[str], values: Sequence[float]) -> str:
    """Horizontal bars: one per label (segment sizes, counts per destination)."""
    n = max(1, len(labels))
    row = min(28.0, (_H - _PAD_T - 8) / n)
    height = int(_PAD_T + row * n + 8)
    top = max([*values, 0]) or 1
    span = _W - _PAD_L - _PAD_R - 60
    parts = []
    for i, (label, v) in enumerate(zip(labels, values, strict=True)):
        y = _PAD_T + i * row
        w = max(1.0, span * v / top) if v > 0 else 0.0
        parts.append(
            f'<text x="{_PAD_L - 6}" y="{y + row * 0.65:.1f}" text-anchor="end">'
            f"{escape(redact(label)[:22])}</text>"
            f'<rect class="mark" x="{_PAD_L}" y="{y + 2:.1f}" width="{w:.1f}" '
            f'height="{row - 6:.1f}" fill="{_BLUE}">'
            f"<title>{escape(label)}: {_fmt(v)}</title></rect>"
            f'<text x="{_PAD_L + w + 4:.1f}" y="{y + row * 0.65:.1f}">{_fmt(v)}</text>'
        )
    return _svg(title, "".join(parts), height)


def histogram(title: str, values: Sequence[float], bins: int = 20) -> str:
    """Distribution of one score over the population (equal-width bins)."""
    vals = [float(v) for v in values if v is not None and not math.isnan(float(v))]
    if not vals:
        return _svg(title, '<text x="10" y="60">no values</text>', 80)
    lo, hi = min(vals), max(vals)
    if hi == lo:
        hi = lo + 1
    distinct = len(set(vals))
    bins = max(1, min(bins, distinct))
    counts = [0] * bins
    for v in vals:
        counts[min(bins - 1, int((v - lo) / (hi - lo) * bins))] += 1
    top = max(counts) or 1
    plot_w, plot_h = _W - 60 - _PAD_R, _H - _PAD_T - _PAD_B
    bw = plot_w / bins
    parts = [
        f'<line x1="50" y1="{_H - _PAD_B}" x2="{_W - _PAD_R}" y2="{_H - _PAD_B}" stroke="#666"/>'
    ]
    for i, c in enumerate(counts):
        h = plot_h * c / top
        left = lo + (hi - lo) * i / bins
        right = lo + (hi - lo) * (i + 1) / bins
        parts.append(
            f'<rect class="mark" x="{50 + i * bw + 1:.1f}" y="{_H - _PAD_B - h:.1f}" '
            f'width="{max(1.0, bw - 2):.1f}" height="{max(h, 0.5):.1f}" fill="{_BLUE}">'
            f"<title>{_fmt(left)} to {_fmt(right)}: {c}</title></rect>"
        )
    parts.append(f'<text x="50" y="{_H - 8}">{_fmt(lo)}</text>')
    parts.append(f'<text x="{_W - _PAD_R}" y="{_H - 8}" text-anchor="end">{_fmt(hi)}</text>')
    parts.append(f'<text x="46" y="{_PAD_T + 10}" text-anchor="end">{top}</text>')
    return _svg(title, "".join(parts))


def calibration_plot(title: str, points: Sequence[tuple[float, float]]) -> str:
    """Predicted probability (x) against observed rate (y) per bin, with the diagonal."""
    size = 200
    x0, y0 = 60, _PAD_T + size

    def xy(p: float, o: float) -> tuple[float, float]:
        return x0 + size * min(max(p, 0), 1), y0 - size * min(max(o, 0), 1)

    parts = [
        f'<rect x="{x0}" y="{_PAD_T}" width="{size}" height="{size}" fill="none" stroke="#999"/>',
        f'<line x1="{x0}" y1="{y0}" x2="{x0 + size}" y2="{_PAD_T}" stroke="{_GREY}" '
        'stroke-dasharray="4 3"/>',
        f'<text x="{x0 + size / 2}" y="{y0 + 22}" text-anchor="middle">predicted</text>',
        f'<text x="{x0 - 8}" y="{_PAD_T + size / 2}" text-anchor="end">observed</text>',
    ]
    pts = [xy(p, o) for p, o in points]
    if len(pts) > 1:
        path = " ".join(f"{x:.1f},{y:.1f}" for x, y in pts)
        parts.append(f'<polyline points="{path}" fill="none" stroke="{_ORANGE}" stroke-width="2"/>')
    for (p, o), (x, y) in zip(points, pts, strict=True):
        parts.append(
            f'<circle class="mark" cx="{x:.1f}" cy="{y:.1f}" r="4" fill="{_ORANGE}">'
            f"<title>predicted {p:.2f}, observed {o:.2f}</title></circle>"
        )
    return _svg(title, "".join(parts), _PAD_T + size + 30)


def index_bars(title: str, features: Sequence[str], index: Sequence[float]) -> str:
    """A segment's mean of each feature relative to the population (100 = average)."""
    n = max(1, len(features))
    row = 22.0
    height = int(_PAD_T + row * n + 10)
    mid = _PAD_L + (_W - _PAD_L - _PAD_R) / 2
    half = (_W - _PAD_L - _PAD_R) / 2 - 40
    cap = max([abs(v - 100) for v in index] + [50.0])
    parts = [f'<line x1="{mid}" y1="{_PAD_T - 4}" x2="{mid}" y2="{height - 4}" stroke="#666"/>']
    for i, (name, v) in enumerate(zip(features, index, strict=True)):
        y = _PAD_T + i * row
        w = half * (v - 100) / cap
        x = mid if w >= 0 else mid + w
        color = _BLUE if w >= 0 else _ORANGE
        parts.append(
            f'<text x="{_PAD_L - 6}" y="{y + 14:.1f}" text-anchor="end">'
            f"{escape(redact(name)[:22])}</text>"
            f'<rect class="mark" x="{x:.1f}" y="{y + 3:.1f}" width="{max(abs(w), 1):.1f}" '
            f'height="{row - 8:.1f}" fill="{color}"><title>{escape(name)}: {v:.0f} '
            f"(population = 100)</title></rect>"
            f'<text x="{mid + (w + 4 if w >= 0 else w - 4):.1f}" y="{y + 14:.1f}" '
            f'text-anchor="{"start" if w >= 0 else "end"}">{v:.0f}</text>'
        )
    return _svg(title, "".join(parts), height)
