"""Metric batches: validated all-or-nothing, a few statements, latest value per key."""

from __future__ import annotations

import math

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django_tenants.utils import schema_context

from mlgov.audit.models import AuditEvent
from registry.models import RunMetric, RunMetricLatest, RunParam, RunTag
from registry.services.experiments import TrackingError, experiment_create
from registry.services.metrics import (
    MAX_METRICS_PER_BATCH,
    parse_metric_points,
    run_log_batch,
)
from registry.services.runs import run_create
from tests.conftest import user_in


@pytest.fixture()
def world(alpha):
    with schema_context(alpha.schema_name):
        alice = user_in(alpha, "alice")
        experiment = experiment_create(acting_user=alice, name="exp")
        run = run_create(acting_user=alice, experiment=experiment)
        yield {"alice": alice, "run": run}


def _latest(run) -> dict:
    return {
        row.key: (row.step, row.timestamp, row.value)
        for row in RunMetricLatest.objects.filter(run=run)
    }


def test_ten_thousand_points_take_a_bounded_number_of_statements(world):
    # given 10,000 points over 10 keys
    points = [
        {"key": f"m{i % 10}", "value": i * 0.5, "step": i, "timestamp": 1_000 + i}
        for i in range(10_000)
    ]
    # when they are logged in one batch
    with CaptureQueriesContext(connection) as queries:
        logged = run_log_batch(acting_user=world["alice"], run=world["run"], metrics=points)
    # then a handful of statements wrote them all, and the latest per key is the newest step
    assert logged.metrics == 10_000
    assert len(queries) <= 15, [q["sql"][:80] for q in queries]
    assert RunMetric.objects.filter(run=world["run"]).count() == 10_000
    latest = _latest(world["run"])
    assert latest["m9"] == (9_999, 10_999, 9_999 * 0.5)
    assert len(latest) == 10


def test_latest_keeps_the_newest_step_across_batches(world):
    alice, run = world["alice"], world["run"]
    run_log_batch(
        acting_user=alice,
        run=run,
        metrics=[
            {"key": "loss", "value": 0.5, "step": 10, "timestamp": 100},
        ],
    )
    # an older step logged later does not replace the latest
    run_log_batch(
        acting_user=alice,
        run=run,
        metrics=[
            {"key": "loss", "value": 0.9, "step": 3, "timestamp": 500},
            {"key": "acc", "value": 0.7, "step": 1, "timestamp": 1},
        ],
    )
    assert _latest(run) == {"loss": (10, 100, 0.5), "acc": (1, 1, 0.7)}
    # the same step with a later timestamp does; within a batch the newest point wins
    run_log_batch(
        acting_user=alice,
        run=run,
        metrics=[
            {"key": "loss", "value": 0.4, "step": 10, "timestamp": 200},
            {"key": "loss", "value": 0.3, "step": 10, "timestamp": 150},
        ],
    )
    assert _latest(run)["loss"] == (10, 200, 0.4)
    assert RunMetric.objects.filter(run=run, key="loss").count() == 4


def test_nan_and_infinities_are_accepted_as_mlflow_does(world):
    run_log_batch(
        acting_user=world["alice"],
        run=world["run"],
        metrics=[
            {"key": "a", "value": "NaN", "step": 0},
            {"key": "b", "value": "Infinity", "step": 0},
            {"key": "c", "value": "-Infinity", "step": 0},
        ],
    )
    latest = _latest(world["run"])
    assert math.isnan(latest["a"][2])
    assert latest["b"][2] == math.inf
    assert latest["c"][2] == -math.inf


def test_params_and_tags_come_in_the_same_batch_and_params_stay_immutable(world):
    alice, run = world["alice"], world["run"]
    run_log_batch(
        acting_user=alice,
        run=run,
        metrics=[{"key": "m", "value": 1, "step": 0, "timestamp": 1}],
        params=[{"key": "lr", "value": "0.1"}],
        tags=[{"key": "stage", "value": "a"}, {"key": "stage", "value": "b"}],
    )
    assert RunParam.objects.get(run=run).value == "0.1"
    assert RunTag.objects.get(run=run).value == "b"
    # a batch that would change a param is refused whole: its metrics are not written either
    with pytest.raises(TrackingError) as caught:
        run_log_batch(
            acting_user=alice,
            run=run,
            metrics=[{"key": "m", "value": 2, "step": 1, "timestamp": 2}],
            params=[{"key": "lr", "value": "0.2"}],
        )
    assert (caught.value.status, caught.value.code) == (409, "param_immutable")
    assert RunMetric.objects.filter(run=run).count() == 1
    event = AuditEvent.objects.filter(action="run.log_batch").get()
    assert event.after["metrics"] == 1
    assert event.after["params"] == {"lr": "0.1"}


@pytest.mark.parametrize(
    ("point", "field"),
    [
        ({"key": "m", "value": "1.0"}, None),
        ({"key": "m", "value": True}, None),
        ({"key": "m", "value": None}, None),
        ({"key": "m", "value": 10**400}, None),
        ({"key": "m", "value": 1, "step": 1.5}, "step"),
        ({"key": "m", "value": 1, "step": "1"}, "step"),
        ({"key": "m", "value": 1, "step": 2**63}, "step"),
        ({"key": "m", "value": 1, "timestamp": "now"}, "timestamp"),
        ({"key": "m" * 251, "value": 1}, None),
        ({"key": "../m", "value": 1}, None),
        ({"key": "m", "value": 1, "extra": 1}, None),
        ("not an object", None),
    ],
)
def test_invalid_points_refuse_the_whole_batch(world, point, field):
    good = [{"key": "ok", "value": 1.0}] * 5
    with pytest.raises(TrackingError) as caught:
        run_log_batch(acting_user=world["alice"], run=world["run"], metrics=[*good, point])
    assert caught.value.status == 400
    assert caught.value.code == "invalid_metric"
    assert caught.value.details.get("index") == 5
    if field:
        assert caught.value.details["field"] == field
    assert not RunMetric.objects.exists()


def test_batch_too_large_is_refused_before_any_point_is_read():
    points = [None] * (MAX_METRICS_PER_BATCH + 1)
    with pytest.raises(TrackingError) as caught:
        parse_metric_points(points)
    assert (caught.value.status, caught.value.code) == (400, "batch_too_large")


def test_defaults_step_zero_and_timestamp_now():
    parsed = parse_metric_points([{"key": "m", "value": 3}], now_ms=1234)
    assert (parsed.steps, parsed.timestamps, parsed.values) == ([0], [1234], [3.0])
    parsed = parse_metric_points([{"key": "m", "value": 1, "timestamp": 1.7e12, "step": 2.0}])
    assert parsed.timestamps == [1_700_000_000_000]
    assert parsed.steps == [2]


def test_logging_needs_change_on_the_experiment(alpha, world):
    with pytest.raises(TrackingError) as caught:
        run_log_batch(
            acting_user=user_in(alpha, "victor"),
            run=world["run"],
            metrics=[{"key": "m", "value": 1}],
        )
    assert caught.value.status == 403
    assert not RunMetric.objects.exists()


def test_array_literals_round_trip_every_value_exactly(world):
    from registry.services.metrics import MetricPoints, _insert_points

    # given keys that need escaping inside an array literal (validation would refuse them,
    # this checks the literal itself) and floats at the edges of their range
    keys = ['a"b', "c\\d", "e,f", "{g}", "h i", "ümlaut"]
    values = [5e-324, 1.7976931348623157e308, -0.0, 0.1 + 0.2, math.inf, -math.inf]
    points = MetricPoints(keys, values, [0] * 6, [2**63 - 1] * 6, {})
    # when inserted / then they come back exactly
    _insert_points(world["run"], points)
    stored = dict(RunMetric.objects.filter(run=world["run"]).values_list("key", "value"))
    assert stored == dict(zip(keys, values, strict=True))
    assert set(RunMetric.objects.values_list("timestamp", flat=True)) == {2**63 - 1}
