"""Metric batches and history through the API: bounded queries, keyset pages, limits."""

from __future__ import annotations

import json

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django_tenants.utils import schema_context

from registry.models import RunMetric, RunMetricLatest, RunParam
from registry.services.experiments import experiment_create
from registry.services.metrics import MAX_METRICS_PER_BATCH
from registry.services.runs import run_create
from tests.conftest import user_in


@pytest.fixture()
def run(alpha):
    with schema_context(alpha.schema_name):
        alice = user_in(alpha, "alice")
        experiment = experiment_create(acting_user=alice, name="exp")
        return run_create(acting_user=alice, experiment=experiment)


def _url(run, tail="") -> str:
    return f"api/v1/runs/{run.pk}/metrics/{tail}"


def _code(response) -> str:
    return response.json()["error"]["code"]


def _points(count: int, offset: int = 0) -> list[dict]:
    return [
        {"key": f"k{i % 4}", "value": float(i), "step": i // 4, "timestamp": 10_000 + i}
        for i in range(offset, offset + count)
    ]


def test_ten_thousand_points_in_one_request_take_few_queries(
    alpha, api_as, run, django_assert_max_num_queries
):
    # given alice's token, already used once (its last-use time is written once a minute)
    caller = api_as(alpha, "alice", scope="write")
    assert caller.post(_url(run), {"metrics": _points(100)}).status_code == 201
    # when 10,000 points over 4 keys are posted in one request
    with django_assert_max_num_queries(15):
        response = caller.post(_url(run), {"metrics": _points(10_000, offset=100)})
    # then all are stored and the latest per key is the newest step
    assert response.status_code == 201, response.content
    assert response.json() == {"metrics": 10_000, "params": 0, "tags": 0}
    with schema_context(alpha.schema_name):
        assert RunMetric.objects.filter(run=run).count() == 10_100
        latest = {m.key: (m.step, m.value) for m in RunMetricLatest.objects.filter(run=run)}
        assert latest == {f"k{k}": (2524, float(10_096 + k)) for k in range(4)}


def test_query_count_does_not_depend_on_the_number_of_points(alpha, api_as, run):
    caller = api_as(alpha, "alice")
    body = {"params": [{"key": "lr", "value": "0.1"}], "tags": [{"key": "t", "value": "v"}]}
    counts = []
    for count in (10, 100, 10_000):
        with CaptureQueriesContext(connection) as queries:
            response = caller.post(_url(run), {**body, "metrics": _points(count)})
        assert response.status_code == 201
        counts.append(len(queries))
    # the first request also records the token's last use
    assert counts[1] == counts[2] <= counts[0]
    with schema_context(alpha.schema_name):
        assert RunParam.objects.get(run=run).value == "0.1"


def test_latest_list_keeps_newest_step_and_renders_nan(alpha, api_as, run):
    caller = api_as(alpha, "alice")
    caller.post(_url(run), {"metrics": [{"key": "loss", "value": 0.2, "step": 5}]})
    caller.post(_url(run), {"metrics": [
        {"key": "loss", "value": 0.9, "step": 1},
        {"key": "nan", "value": "NaN", "step": 0},
        {"key": "inf", "value": "-Infinity", "step": 0},
    ]})
    results = {m["key"]: m for m in caller.get(_url(run)).json()["results"]}
    assert (results["loss"]["step"], results["loss"]["value"]) == (5, 0.2)
    assert results["nan"]["value"] == "NaN"
    assert results["inf"]["value"] == "-Infinity"
    detail = caller.get(f"api/v1/runs/{run.pk}/").json()
    assert {m["key"] for m in detail["latest_metrics"]} == {"loss", "nan", "inf"}


def test_history_pages_return_every_point_exactly_once(alpha, api_as, run):
    # given 2,345 points with repeated steps and timestamps (ties broken by id)
    points = [{"key": "loss", "value": float(i), "step": i // 3, "timestamp": i // 7}
              for i in range(2_345)]
    points += [{"key": "other", "value": 1.0, "step": 0}] * 10
    caller = api_as(alpha, "alice")
    assert caller.post(_url(run), {"metrics": points}).status_code == 201
    # when read page by page
    seen, cursor, pages = [], None, 0
    while True:
        query = "?key=loss&page_size=500" + (f"&cursor={cursor}" if cursor else "")
        page = caller.get(_url(run, "history/") + query).json()
        seen += page["results"]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            assert page["next"] is None
            break
        assert page["next"].startswith("http://testserver/t/alpha/api/v1/runs/")
    # then every point came once, in (step, timestamp) order
    assert pages == 5
    assert sorted(p["value"] for p in seen) == [float(i) for i in range(2_345)]
    order = [(p["step"], p["timestamp"]) for p in seen]
    assert order == sorted(order)


@pytest.mark.parametrize(
    ("query", "code"),
    [("", "invalid_metric"), ("?key=loss&page_size=10001", "invalid_page_size"),
     ("?key=loss&page_size=0", "invalid_page_size"), ("?key=loss&page_size=x", "invalid_page_size"),
     ("?key=loss&cursor=!!", "invalid_cursor"), ("?key=loss&cursor=YTpiOmM=", "invalid_cursor")],
)
def test_history_refuses_bad_parameters(alpha, api_as, run, query, code):
    response = api_as(alpha, "alice").get(_url(run, "history/") + query)
    assert response.status_code == 400
    assert _code(response) == code


def test_history_page_query_count_does_not_grow(alpha, api_as, run):
    caller = api_as(alpha, "alice")

    def log(count):
        with schema_context(alpha.schema_name):
            RunMetric.objects.bulk_create(
                [RunMetric(run=run, key="m", value=1.0, step=i, timestamp=i)
                 for i in range(count)]
            )

    def count_queries(path):
        caller.get(path)  # the token's first use records last_used_at
        with CaptureQueriesContext(connection) as queries:
            assert caller.get(path).status_code == 200
        return len(queries)

    log(10)
    small = count_queries(_url(run, "history/") + "?key=m&page_size=10000")
    log(1000)
    assert count_queries(_url(run, "history/") + "?key=m&page_size=10000") == small
    with schema_context(alpha.schema_name):
        RunMetricLatest.objects.bulk_create(
            [RunMetricLatest(run=run, key=f"k{i}", value=1, step=0, timestamp=0)
             for i in range(10)]
        )
    small = count_queries(_url(run) + "?page_size=500")
    with schema_context(alpha.schema_name):
        RunMetricLatest.objects.bulk_create(
            [RunMetricLatest(run=run, key=f"x{i}", value=1, step=0, timestamp=0)
             for i in range(1000)]
        )
    assert count_queries(_url(run) + "?page_size=500") == small


def test_batch_too_large_and_malformed_batches(alpha, api_as, run):
    caller = api_as(alpha, "alice")
    too_many = {"metrics": [{"key": "m", "value": 1}] * (MAX_METRICS_PER_BATCH + 1)}
    response = caller.post(_url(run), too_many)
    assert response.status_code == 400
    assert _code(response) == "batch_too_large"
    for body, code in [
        ({"metrics": "x"}, "invalid_metric"),
        ({"metric": []}, "invalid_batch"),
        ([{"key": "m"}], "invalid_batch"),
        ({"metrics": [{"key": "m", "value": "1"}]}, "invalid_metric"),
        ({"params": [{"key": "p"}]}, "invalid_param"),
        ({"tags": [{"key": "", "value": "v"}]}, "invalid_tag"),
    ]:
        response = caller.post(_url(run), body)
        assert (response.status_code, _code(response)) == (400, code), body
    # NaN as a bare JSON literal is not JSON: a parse error, not a 500
    raw = caller.client.post(
        caller.url(_url(run)), data='{"metrics": [{"key": "m", "value": NaN}]}',
        content_type="application/json", HTTP_AUTHORIZATION=caller.authorization,
    )
    assert raw.status_code == 400
    with schema_context(alpha.schema_name):
        assert not RunMetric.objects.exists()


def test_oversized_body_is_413_before_it_is_parsed(alpha, api_as, run):
    caller = api_as(alpha, "alice")
    response = caller.client.post(
        caller.url(_url(run)), data=json.dumps({"metrics": []}),
        content_type="application/json", HTTP_AUTHORIZATION=caller.authorization,
        CONTENT_LENGTH=str(65 * 1024 * 1024),
    )
    assert response.status_code == 413
    assert _code(response) == "payload_too_large"


def test_param_immutability_through_the_batch(alpha, api_as, run):
    caller = api_as(alpha, "alice")
    first = caller.post(_url(run), {"params": [{"key": "seed", "value": "1"}]})
    assert first.status_code == 201
    same = caller.post(_url(run), {"params": [{"key": "seed", "value": "1"}]})
    assert same.status_code == 201
    changed = caller.post(_url(run), {"params": [{"key": "seed", "value": "2"}],
                                      "metrics": [{"key": "m", "value": 1}]})
    assert changed.status_code == 409
    assert _code(changed) == "param_immutable"
    with schema_context(alpha.schema_name):
        assert not RunMetric.objects.exists()


def test_metric_endpoints_permissions(alpha, beta, api_as, run):
    batch = {"metrics": [{"key": "m", "value": 1}]}
    # a viewer reads but may not log; bob sees nothing; a read token may not log
    assert api_as(alpha, "victor").get(_url(run)).status_code == 200
    assert api_as(alpha, "victor").post(_url(run), batch).status_code == 403
    assert api_as(alpha, "bob").post(_url(run), batch).status_code == 404
    assert api_as(alpha, "bob").get(_url(run, "history/?key=m")).status_code == 404
    reader = api_as(alpha, "alice", scope="read")
    refused = reader.post(_url(run), batch)
    assert refused.status_code == 403
    assert _code(refused) == "insufficient_scope"
    assert api_as(alpha, None).post(_url(run), batch).status_code == 401
    assert api_as(beta, "carol", path_tenant=alpha).post(_url(run), batch).status_code == 401
    assert api_as(beta, "carol").post(_url(run), batch).status_code == 404
    with schema_context(alpha.schema_name):
        assert not RunMetric.objects.exists()
