"""A run's metric history thinned for a chart: at most `max_points` points per key, whatever
the length of the history (MLflow's charts load it whole: PITFALLS.md).

The caller passes a run it already got through `registry.selectors.runs` (so the user may
see it). Two queries per series: the figures of the history, then the points (all of them
when few, else the mean of each of `max_points` equal step ranges, in SQL).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from django.db.models import Avg, Count, F, Func, IntegerField, Max, Min, Value

from registry.models import Run, RunMetric

MAX_POINTS = 400
_NOT_FINITE = [math.nan, math.inf, -math.inf]


@dataclass(frozen=True)
class MetricSeries:
    key: str
    points: list[tuple[int, float]] = field(default_factory=list)
    # Finite points logged in all; the series is thinned when this exceeds its length.
    total: int = 0

    @property
    def thinned(self) -> bool:
        return self.total > len(self.points)


def metric_series(*, run: Run, key: str, max_points: int = MAX_POINTS) -> MetricSeries:
    """The finite points of `key` of a visible run, in step order; a history longer than
    `max_points` comes back as the mean value of each of `max_points` step ranges (NaN and
    infinite values are left out: a chart cannot place them)."""
    history = RunMetric.objects.filter(run=run, key=key).exclude(value__in=_NOT_FINITE)
    figures = history.aggregate(total=Count("pk"), low=Min("step"), high=Max("step"))
    total = figures["total"] or 0
    if total == 0:
        return MetricSeries(key=key)
    if total <= max_points:
        points = list(history.order_by("step", "timestamp", "pk").values_list("step", "value"))
        return MetricSeries(key=key, points=points, total=total)
    bucket = Func(
        F("step"),
        Value(figures["low"]),
        Value(figures["high"] + 1),
        Value(max_points),
        function="width_bucket",
        output_field=IntegerField(),
    )
    rows = (
        history.annotate(bucket=bucket)
        .values("bucket")
        .annotate(first_step=Min("step"), mean=Avg("value"))
        .order_by("bucket")
        .values_list("first_step", "mean")
    )
    return MetricSeries(key=key, points=list(rows), total=total)
