"""`/api/2.0/mlflow/runs/*` (create, get, update, delete, restore, log-parameter, set-tag,
delete-tag, log-model) on mlgov's runs (registry.services.runs).

A run's permissions are its experiment's, checked by the services (change to write, view
to read). Tags under `mlgov.` are mlgov's own records and cannot be set or removed here.
"""

from __future__ import annotations

import json
import secrets
from datetime import UTC, datetime

from django.db.models import Prefetch

from registry.mlflow_api import entities, ids, lookups
from registry.mlflow_api.base import params_of
from registry.mlflow_api.errors import invalid
from registry.mlflow_api.logged_model_records import TAG_PREFIX, records_of
from registry.models import Run, RunMetricLatest, RunParam, RunTag
from registry.services import runs as services

RUN_NAME_TAG = "mlflow.runName"
PARENT_TAG = "mlflow.parentRunId"
LOG_MODEL_HISTORY_TAG = "mlflow.log-model.history"
STATUSES = {name: name.lower() for name in ("RUNNING", "SCHEDULED", "FINISHED", "FAILED",
                                            "KILLED")}


def datetime_of_ms(value: int | None, name: str) -> datetime | None:
    if value is None:
        return None
    try:
        return datetime.fromtimestamp(value / 1000, tz=UTC)
    except (OverflowError, OSError, ValueError):
        raise invalid(f"{name} is not a time in milliseconds: {value!r}.") from None


def check_tag_keys(keys) -> None:
    for key in keys:
        if key.startswith(entities.INTERNAL_PREFIX):
            raise invalid(f"Tag keys starting with {entities.INTERNAL_PREFIX!r} are reserved.")


# --- a run as MLflow's JSON ----------------------------------------------------------------


def with_run_relations(queryset):
    """Prefetch what run_body shows: params, tags (mlgov's records included) and the latest
    metrics; four queries for a page of any size."""
    return queryset.select_related("created_by").prefetch_related(
        Prefetch("params", queryset=RunParam.objects.order_by("key")),
        Prefetch("tags", queryset=RunTag.objects.order_by("key")),
        Prefetch("latest_metrics", queryset=RunMetricLatest.objects.order_by("key")),
    )


def run_body(run: Run) -> dict:
    """MLflow's Run for a run fetched with `with_run_relations`."""
    tags = [(tag.key, tag.value) for tag in run.tags.all()]
    record_rows = [(run.pk, key, value) for key, value in tags if key.startswith(TAG_PREFIX)]
    outputs = [
        {"model_id": record.model_id, "step": 0}
        for record in records_of(record_rows, {run.pk: run})
        if not record.deleted
    ]
    inputs = []
    for key, value in tags:
        if key.startswith(entities.DATASET_INPUT_TAG):
            try:
                inputs.append(json.loads(value))
            except ValueError:
                continue
    return entities.run_json(
        run,
        params=[(param.key, param.value) for param in run.params.all()],
        tags=tags,
        metrics=run.latest_metrics.all(),
        dataset_inputs=inputs,
        model_outputs=outputs,
    )


def run_fresh(run: Run) -> dict:
    return run_body(with_run_relations(Run.objects.select_related("experiment")).get(pk=run.pk))


def run_for(request, params, queryset=None) -> Run:
    """The run named by run_id (or the older run_uuid), visible to the caller."""
    raw = params.string("run_id") or params.string("run_uuid")
    if not raw:
        raise invalid("Missing value for required parameter 'run_id'.")
    return lookups.run_get(acting_user=request.user, run_id=raw, queryset=queryset)


# --- handlers ------------------------------------------------------------------------------


def runs_create(request):
    params = params_of(request)
    experiment = lookups.experiment_get(
        acting_user=request.user,
        experiment_id=params.string("experiment_id", default=ids.DEFAULT_EXPERIMENT_ID),
        create_default=True,
    )
    tags = params.pairs("tags")
    check_tag_keys(tags)
    name = params.string("run_name", max_length=services.MAX_RUN_NAME_LENGTH) or tags.get(
        RUN_NAME_TAG
    ) or f"run-{secrets.token_hex(4)}"
    tags[RUN_NAME_TAG] = name  # MLflow keeps the name in a tag as well
    parent = None
    if tags.get(PARENT_TAG):
        parent = lookups.run_get(acting_user=request.user, run_id=tags[PARENT_TAG])
    run = services.run_create(
        acting_user=request.user,
        experiment=experiment,
        name=name,
        start_time=datetime_of_ms(params.integer("start_time"), "start_time"),
        parent_run=parent,
        tags=tags,
    )
    # A new run holds exactly what was just written: no need to read it back.
    return {"run": entities.run_json(run, params=[], tags=sorted(tags.items()), metrics=[])}


def runs_get(request):
    params = params_of(request)
    # one read of the run with what it shows, then the permission check on its experiment
    run = run_for(request, params, queryset=with_run_relations(Run.objects.all()))
    return {"run": run_body(run)}


def runs_update(request):
    params = params_of(request)
    run = run_for(request, params)
    raw_status = params.string("status")
    status = None
    if raw_status:
        status = STATUSES.get(raw_status.upper())
        if status is None:
            raise invalid(f"Invalid run status {raw_status!r}.")
    end_time = datetime_of_ms(params.integer("end_time"), "end_time")
    if status is None or status == run.status:
        status, end_time = None, None  # the end time is set only when the run ends
    name = params.string("run_name", max_length=services.MAX_RUN_NAME_LENGTH)
    run = services.run_update(acting_user=request.user, run=run, name=name or None,
                              status=status, end_time=end_time)
    if name:
        services.run_tags_set(acting_user=request.user, run=run, tags={RUN_NAME_TAG: name})
    return {"run_info": entities.run_info_json(run)}


def runs_delete(request):
    params = params_of(request)
    services.run_delete(acting_user=request.user, run=run_for(request, params))
    return {}


def runs_restore(request):
    params = params_of(request)
    services.run_restore(acting_user=request.user, run=run_for(request, params))
    return {}


def runs_log_parameter(request):
    params = params_of(request)
    run = run_for(request, params)
    key = params.string("key", required=True, max_length=services.MAX_KEY_LENGTH)
    value = params.string("value", default="", max_length=services.MAX_PARAM_VALUE_LENGTH)
    services.run_params_log(acting_user=request.user, run=run,
                            params=[{"key": key, "value": value or ""}])
    return {}


def runs_set_tag(request):
    params = params_of(request)
    run = run_for(request, params)
    key = params.string("key", required=True, max_length=services.MAX_KEY_LENGTH)
    value = params.string("value", default="", max_length=services.MAX_TAG_VALUE_LENGTH) or ""
    check_tag_keys([key])
    services.run_tags_set(acting_user=request.user, run=run, tags=[{"key": key, "value": value}])
    if key == RUN_NAME_TAG and value and value != run.name:
        services.run_update(acting_user=request.user, run=run, name=value)
    return {}


def runs_delete_tag(request):
    params = params_of(request)
    run = run_for(request, params)
    key = params.string("key", required=True, max_length=services.MAX_KEY_LENGTH)
    check_tag_keys([key])
    services.run_tag_delete(acting_user=request.user, run=run, key=key)
    return {}


def runs_log_model(request):
    """The MLflow 2 record of a model logged in the run's files: appended to the run's
    `mlflow.log-model.history` tag, as MLflow's server does (oldest entries give way when
    the tag would pass its size limit)."""
    params = params_of(request)
    run = run_for(request, params)
    text = params.string("model_json", required=True, max_length=100_000)
    try:
        model = json.loads(text)
    except ValueError:
        raise invalid("model_json is not valid JSON.") from None
    if not isinstance(model, dict) or not {"artifact_path", "flavors"} <= set(model):
        raise invalid("model_json needs at least artifact_path and flavors.")
    current = RunTag.objects.filter(run=run, key=LOG_MODEL_HISTORY_TAG).first()
    try:
        history = json.loads(current.value) if current else []
    except ValueError:
        history = []
    history = [*(history if isinstance(history, list) else []), model]
    encoded = json.dumps(history)
    while len(encoded) > services.MAX_TAG_VALUE_LENGTH and len(history) > 1:
        history = history[1:]
        encoded = json.dumps(history)
    if len(encoded) > services.MAX_TAG_VALUE_LENGTH:
        raise invalid("model_json is too large to record.")
    services.run_tags_set(acting_user=request.user, run=run,
                          tags={LOG_MODEL_HISTORY_TAG: encoded})
    return {}


ROUTES = [
    ("POST", "2.0", "runs/create", runs_create, None),
    ("GET", "2.0", "runs/get", runs_get, None),
    ("POST", "2.0", "runs/update", runs_update, None),
    ("POST", "2.0", "runs/delete", runs_delete, None),
    ("POST", "2.0", "runs/restore", runs_restore, None),
    ("POST", "2.0", "runs/log-parameter", runs_log_parameter, None),
    ("POST", "2.0", "runs/set-tag", runs_set_tag, None),
    ("POST", "2.0", "runs/delete-tag", runs_delete_tag, None),
    ("POST", "2.0", "runs/log-model", runs_log_model, None),
]
