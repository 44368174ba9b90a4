"""Chart geometry: round ticks, whole-number steps, one point drawn as a dot."""

from __future__ import annotations

import pytest
from django.utils import translation

from registry.console.charts import line_chart, nice_ticks
from registry.selectors.metric_series import MetricSeries


@pytest.mark.parametrize(("low", "high", "ticks"), [
    (0.0, 1.0, [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]),
    (0.0, 30.0, [0.0, 10.0, 20.0, 30.0]),
    (5.0, 5.0, [4.4, 4.6, 4.8, 5.0, 5.2, 5.4, 5.6]),  # a flat line gets room around it
])
def test_nice_ticks_cover_the_range_with_round_values(low, high, ticks):
    values, _ = nice_ticks(low, high)
    assert values == pytest.approx(ticks)


def test_step_ticks_are_whole_numbers():
    chart = line_chart([MetricSeries("loss", [(0, 1.0), (1, 0.5)], 2)])
    assert all("." not in tick.label and "," not in tick.label for tick in chart.x_ticks)


def test_a_single_point_is_a_dot_and_labels_follow_the_language():
    with translation.override("de"):
        chart = line_chart([MetricSeries("loss", [(3, 0.25)], 1)])
    assert chart.series[0].dots
    assert not chart.series[0].path
    assert any("," in tick.label for tick in chart.y_ticks)


def test_no_points_is_an_empty_chart():
    assert line_chart([MetricSeries("loss")]).empty
