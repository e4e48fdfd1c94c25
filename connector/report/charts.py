"""Static SVG charts for the report, drawn by pygal.

pygal is pure Python and writes SVG itself, with axes, axis titles, value labels, dates on time
axes and one scale per chart (series drawn together share it); matplotlib would also do, but
it is a large compiled dependency whose SVG embeds every glyph as a path. pygal's own SVG
carries a script (its tooltips, loaded from a CDN by default): we turn the CDN off and strip
the inline config script, so a chart is plain SVG with inline CSS and fetches nothing.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

import pygal
from pygal.style import Style

# pygal appends a legacy import hook (for its map plugins, pygal.maps.*, which we do not use) to
# sys.meta_path; lacking find_spec, it makes every later failed import warn (ImportWarning).
sys.meta_path[:] = [f for f in sys.meta_path if type(f).__name__ != "PluginImportFixer"]

__all__ = [
    "bars",
    "calibration",
    "histogram",
    "lift_over_time",
    "sizes_over_time",
]

_STYLE = Style(
    background="white",
    plot_background="white",
    foreground="#1d232a",
    foreground_strong="#1d232a",
    foreground_subtle="#d8dde3",
    font_family="system-ui, sans-serif",
    colors=("#2f6db5", "#d9822b", "#3f9c5a", "#b3261e", "#7b5ea7", "#8c6d46", "#c2489f"),
    title_font_size=16,
    label_font_size=12,
    major_label_font_size=12,
    legend_font_size=12,
    value_font_size=11,
    guide_stroke_color="#e3e7eb",
    major_guide_stroke_color="#c9d0d6",
)
_SCRIPT = re.compile(r"<script\b.*?</script>", re.DOTALL)
_COMMON: dict[str, Any] = {
    "style": _STYLE,
    "js": [],  # no pygal.js from a CDN
    "disable_xml_declaration": True,
    "width": 760,
    "height": 380,
    "legend_at_bottom": True,
    "legend_at_bottom_columns": 2,
    "truncate_legend": 45,
    "truncate_label": 28,
}


def _svg(chart: Any) -> str:
    """The chart as inline SVG: no script, marked for the layout check of the report test."""
    svg = _SCRIPT.sub("", str(chart.render(is_unicode=True)))
    return svg.replace("<svg ", '<svg role="img" ', 1)


def bars(
    title: str,
    labels: Sequence[str],
    values: Sequence[float],
    *,
    unit: str,
    horizontal: bool = True,
    value_range: tuple[float, float] | None = None,
) -> str:
    """One value per label (segment sizes, changes per destination, an index vs 100)."""
    kind = pygal.HorizontalBar if horizontal else pygal.Bar
    height = max(220, 70 + 34 * len(labels)) if horizontal else 380
    chart = kind(
        **{**_COMMON, "height": height},
        title=title,
        show_legend=False,
        print_values=True,
        range=value_range,
        **({"x_title": unit} if horizontal else {"y_title": unit}),
    )
    chart.x_labels = list(labels)
    chart.add(unit, [float(v) for v in values])
    return _svg(chart)


def histogram(title: str, lo: float, width: float, counts: Sequence[int], *, unit: str) -> str:
    """How a score is distributed: profiles per bin of equal width (counted by the data engine,
    ``connector.report.aggregates.score_bins``)."""
    chart = pygal.Histogram(
        **_COMMON, title=title, show_legend=False, x_title=unit, y_title="profiles"
    )
    chart.add("profiles", [(c, lo + i * width, lo + (i + 1) * width) for i, c in enumerate(counts)])
    return _svg(chart)


def calibration(title: str, points: Sequence[tuple[float, float]]) -> str:
    """Predicted vs observed rate per bin, against the diagonal of perfect calibration."""
    chart = pygal.XY(
        **_COMMON,
        title=title,
        x_title="predicted probability",
        y_title="observed rate",
        range=(0, 1),
        xrange=(0, 1),
        dots_size=4,
    )
    chart.add("perfectly calibrated", [(0, 0), (1, 1)], stroke_style={"dasharray": "4,4"})
    chart.add("model", sorted(points))
    return _svg(chart)


def _time_format(points: Sequence[datetime]) -> str:
    """Dates for runs days apart, clock times for runs within a day (a demo, a test)."""
    if points and max(points) - min(points) < timedelta(days=1):
        return "%H:%M:%S"
    return "%d %b %Y"


def sizes_over_time(
    title: str, series: Mapping[str, Sequence[tuple[datetime, float]]], *, unit: str = "members"
) -> str:
    """Values per run (members per segment, changes sent) on one shared scale from zero and a
    date axis."""
    fmt = _time_format([t for points in series.values() for t, _v in points])
    chart = pygal.DateTimeLine(
        **_COMMON,
        title=title,
        y_title=unit,
        include_x_axis=True,
        x_value_formatter=lambda d: d.strftime(fmt),
        x_label_rotation=20,
        dots_size=3,
    )
    for name, points in series.items():
        chart.add(name, [(t, v) for t, v in points])
    return _svg(chart)


def lift_over_time(
    title: str,
    points: Sequence[tuple[datetime, float, float, float]],
    *,
    unit: str,
    value_range: tuple[float, float],
) -> str:
    """The treated-minus-control difference over time with its 95% interval (low, high)."""
    fmt = _time_format([p[0] for p in points])
    chart = pygal.DateTimeLine(
        **_COMMON,
        title=title,
        y_title=unit,
        range=value_range,
        x_value_formatter=lambda d: d.strftime(fmt),
        x_label_rotation=20,
        dots_size=3,
    )
    chart.add("difference", [(t, d) for t, d, _lo, _hi in points])
    dashed = {"dasharray": "3,4"}
    chart.add("95% low", [(t, lo) for t, _d, lo, _hi in points], stroke_style=dashed)
    chart.add("95% high", [(t, hi) for t, _d, _lo, hi in points], stroke_style=dashed)
    chart.add("no lift", [(points[0][0], 0.0), (points[-1][0], 0.0)], show_dots=False)
    return _svg(chart)
