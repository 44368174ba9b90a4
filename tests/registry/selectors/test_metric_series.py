"""metric_series: a chart's points, at most max_points whatever the history's length."""

from __future__ import annotations

from django_tenants.utils import schema_context

from registry.selectors.metric_series import metric_series
from registry.services.experiments import experiment_create
from registry.services.metrics import run_log_batch
from registry.services.runs import run_create
from tests.conftest import user_in


def _run_with(alpha, points):
    mia = user_in(alpha, "mia")
    run = run_create(acting_user=mia, experiment=experiment_create(acting_user=mia, name="e"))
    run_log_batch(acting_user=mia, run=run, metrics=points)
    return run


def test_a_short_history_comes_back_whole_without_non_finite_values(alpha):
    with schema_context(alpha.schema_name):
        run = _run_with(alpha, [
            {"key": "loss", "value": 0.5, "step": 0},
            {"key": "loss", "value": "NaN", "step": 1},
            {"key": "loss", "value": "Infinity", "step": 2},
            {"key": "loss", "value": 0.25, "step": 3},
            {"key": "other", "value": 9.0, "step": 0},
        ])
        series = metric_series(run=run, key="loss")
    assert series.points == [(0, 0.5), (3, 0.25)]
    assert series.total == 2
    assert not series.thinned


def test_a_long_history_is_thinned_to_the_mean_of_step_ranges(alpha):
    with schema_context(alpha.schema_name):
        run = _run_with(alpha, [{"key": "loss", "value": float(step), "step": step}
                                for step in range(1000)])
        series = metric_series(run=run, key="loss", max_points=100)
    assert len(series.points) == 100
    assert series.total == 1000
    assert series.thinned
    # each range of 10 steps becomes its first step and its mean value
    assert series.points[0] == (0, 4.5)
    assert series.points[-1] == (990, 994.5)


def test_an_unknown_key_is_empty(alpha):
    with schema_context(alpha.schema_name):
        run = _run_with(alpha, [{"key": "loss", "value": 1.0, "step": 0}])
        assert metric_series(run=run, key="nope").points == []
