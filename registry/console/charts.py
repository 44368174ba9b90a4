"""Line charts of metrics over steps, drawn on the server as inline SVG.

`line_chart` turns series of (step, value) points into the coordinates a template draws
(templates/registry/_chart.html): no JavaScript, nothing to load, printable. Tick labels
are formatted for the active language (decimal and thousands separators).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from django.utils.formats import number_format

from registry.selectors.metric_series import MetricSeries

WIDTH = 480
HEIGHT = 220
LEFT, RIGHT, TOP, BOTTOM = 56, 14, 12, 30
TICKS = 5


@dataclass(frozen=True)
class Tick:
    position: float
    label: str


@dataclass(frozen=True)
class DrawnSeries:
    label: str
    index: int
    path: str  # polyline points "x,y x,y …"
    dots: list[tuple[float, float]]  # for series too short to draw a line
    thinned: bool
    total: int


@dataclass
class Chart:
    width: int = WIDTH
    height: int = HEIGHT
    left: int = LEFT
    right_edge: int = WIDTH - RIGHT
    top: int = TOP
    bottom_edge: int = HEIGHT - BOTTOM
    x_ticks: list[Tick] = field(default_factory=list)
    y_ticks: list[Tick] = field(default_factory=list)
    series: list[DrawnSeries] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not any(drawn.dots or drawn.path for drawn in self.series)

    @property
    def thinned(self) -> bool:
        return any(drawn.thinned for drawn in self.series)


def nice_ticks(low: float, high: float, count: int = TICKS) -> tuple[list[float], int]:
    """Round tick values covering [low, high] (1, 2, 2.5 or 5 times a power of ten apart),
    and the number of decimals their labels need."""
    if not math.isfinite(low) or not math.isfinite(high):
        return [0.0, 1.0], 0
    if high == low:
        pad = abs(low) * 0.1 or 1.0
        low, high = low - pad, high + pad
    span = high - low
    magnitude = 10 ** math.floor(math.log10(span / count))
    step = magnitude
    for multiple in (1, 2, 2.5, 5, 10):
        step = multiple * magnitude
        if span / step <= count:
            break
    start = math.floor(low / step) * step
    end = math.ceil(high / step) * step
    ticks = [start + index * step for index in range(round((end - start) / step) + 1)]
    decimals = max(0, -math.floor(math.log10(step))) + (1 if step / magnitude == 2.5 else 0)
    return ticks, min(decimals, 8)


def _label(value: float, decimals: int) -> str:
    if value != 0 and (abs(value) >= 1e9 or decimals > 6):
        return f"{value:.3g}"
    return number_format(round(value, decimals), decimal_pos=decimals, force_grouping=True)


def line_chart(series: list[MetricSeries], labels: list[str] | None = None) -> Chart:
    """Coordinates of one chart holding every series (one per run when comparing)."""
    chart = Chart()
    points = [point for one in series for point in one.points]
    if not points:
        chart.series = [
            DrawnSeries(label, index, "", [], False, 0)
            for index, label in enumerate(labels or [one.key for one in series])
        ]
        return chart
    steps = [step for step, _ in points]
    values = [value for _, value in points]
    x_values, x_decimals = nice_ticks(min(steps), max(steps))
    if x_decimals:  # steps are whole numbers: no tick between two of them
        x_values, x_decimals = nice_ticks(min(steps), max(steps) + 1)
    y_values, y_decimals = nice_ticks(min(values), max(values))
    x_low, x_high = x_values[0], x_values[-1]
    y_low, y_high = y_values[0], y_values[-1]
    plot_width = chart.right_edge - chart.left
    plot_height = chart.bottom_edge - chart.top

    def x_of(step: float) -> float:
        return round(chart.left + (step - x_low) / (x_high - x_low) * plot_width, 1)

    def y_of(value: float) -> float:
        return round(chart.bottom_edge - (value - y_low) / (y_high - y_low) * plot_height, 1)

    # Steps are whole numbers: a tick between two of them would repeat a label.
    chart.x_ticks = [
        Tick(x_of(value), _label(value, 0)) for value in x_values if value == int(value)
    ]
    chart.y_ticks = [Tick(y_of(value), _label(value, y_decimals)) for value in y_values]
    for index, one in enumerate(series):
        coordinates = [(x_of(step), y_of(value)) for step, value in one.points]
        label = labels[index] if labels else one.key
        chart.series.append(
            DrawnSeries(
                label=label,
                index=index,
                path=" ".join(f"{x},{y}" for x, y in coordinates) if len(coordinates) > 1 else "",
                dots=coordinates if len(coordinates) == 1 else [],
                thinned=one.thinned,
                total=one.total,
            )
        )
    return chart
