"""`/api/2.0/mlflow/runs/log-metric`, `/runs/log-batch` and `/metrics/get-history`.

Both writes go through registry.services.metrics.run_log_batch: a handful of statements
per request whatever its size, one audit event, the run's experiment `change` permission
checked inside. History is read page by page on its (run, key, step, timestamp) index with
a signed keyset token, at most 10,000 points per page (MLflow's server loads it whole:
PITFALLS.md); the client follows next_page_token.
"""

from __future__ import annotations

from registry.mlflow_api import entities, paging
from registry.mlflow_api.base import params_of
from registry.mlflow_api.errors import invalid
from registry.mlflow_api.runs import RUN_NAME_TAG, check_tag_keys, run_for
from registry.models import RunMetric
from registry.selectors import runs as run_selectors
from registry.services import metrics as services
from registry.services import runs as run_services

HISTORY_MAX_PAGE = 10_000
_POINT_FIELDS = ("key", "value", "timestamp", "step")


def runs_log_metric(request):
    params = params_of(request)
    run = run_for(request, params)
    point = {
        "key": params.string("key", required=True, max_length=run_services.MAX_KEY_LENGTH),
        "value": params.number("value", required=True),
        "timestamp": params.integer("timestamp", required=True),
        "step": params.integer("step", default=0),
    }
    services.run_log_batch(acting_user=request.user, run=run, metrics=[point])
    return {}


def _points(raw: list[dict]) -> tuple[list[dict], bool]:
    """MLflow's metric objects as the service's points (dataset and model links dropped),
    and whether any carried a model_id."""
    points, linked = [], False
    for item in raw:
        linked = linked or bool(item.get("model_id"))
        points.append({name: item[name] for name in _POINT_FIELDS if name in item})
    return points, linked


def _without_known_points(run, points: list[dict]) -> list[dict]:
    """Drop points the run holds already. The 3.x client re-sends a run's metrics with a
    model_id when it logs a model (to link them to it); mlgov keeps one point, not two."""
    keys = {point.get("key") for point in points}
    steps = {point.get("step", 0) for point in points}
    existing = set(
        RunMetric.objects.filter(run=run, key__in=keys, step__in=steps).values_list(
            "key", "step", "timestamp", "value"
        )
    )

    def known(point: dict) -> bool:
        value = point.get("value")
        return isinstance(value, int | float) and (
            point.get("key"), point.get("step", 0), point.get("timestamp"), float(value)
        ) in existing

    return [point for point in points if not known(point)]


def runs_log_batch(request):
    params = params_of(request)
    run = run_for(request, params)
    metrics, linked = _points(params.objects("metrics", max_items=services.MAX_METRICS_PER_BATCH))
    if linked:
        metrics = _without_known_points(run, metrics)
    tags = params.pairs("tags", max_items=services.MAX_TAGS_PER_BATCH)
    check_tag_keys(tags)
    batch = {
        "metrics": metrics,
        "params": [{"key": k, "value": v} for k, v in params.pairs(
            "params", max_items=services.MAX_PARAMS_PER_BATCH).items()],
        "tags": [{"key": k, "value": v} for k, v in tags.items()],
    }
    if not any(batch.values()):
        return {}
    services.run_log_batch(acting_user=request.user, run=run, **batch)
    if tags.get(RUN_NAME_TAG) and tags[RUN_NAME_TAG] != run.name:
        run_services.run_update(acting_user=request.user, run=run, name=tags[RUN_NAME_TAG])
    return {}


def metrics_get_history(request):
    params = params_of(request)
    run = run_for(request, params)
    key = params.string("metric_key", required=True, max_length=run_services.MAX_KEY_LENGTH)
    size = paging.page_size(params.raw("max_results"), default=HISTORY_MAX_PAGE,
                            maximum=HISTORY_MAX_PAGE)
    fingerprint = paging.query_fingerprint("history", run.pk, key)
    position = paging.token_read(params.string("page_token"), fingerprint)
    after = None
    if position is not None:
        after = (position.get("s"), position.get("t"), position.get("i"))
        if not all(isinstance(part, int) for part in after):
            raise invalid("Invalid page token.")
    rows = run_selectors.metric_history_page(run=run, key=key, after=after, limit=size + 1)
    body: dict = {
        "metrics": [
            entities.metric_json(key, value, step, timestamp, run_id=run.uuid.hex)
            for step, timestamp, value, _ in rows[:size]
        ]
    }
    if len(rows) > size:
        step, timestamp, _value, point_id = rows[size - 1]
        body["next_page_token"] = paging.token_make(
            {"s": step, "t": timestamp, "i": point_id}, fingerprint
        )
    return body


ROUTES = [
    ("POST", "2.0", "runs/log-metric", runs_log_metric, None),
    ("POST", "2.0", "runs/log-batch", runs_log_batch, None),
    ("GET", "2.0", "metrics/get-history", metrics_get_history, None),
]
