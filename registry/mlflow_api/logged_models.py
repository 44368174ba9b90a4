"""`/api/2.0/mlflow/logged-models*` as the 3.x client calls them: create, get, finalize,
delete, search, set and delete tags, log params (records: logged_model_records.py).

A logged model inherits its run's permissions (the run's experiment): reading needs view,
every change needs change. Its files are uploaded through the artifact endpoints
(artifacts.py) to `mlflow-artifacts:/models/<model_id>/artifacts`.
"""

from __future__ import annotations

import secrets

from registry.mlflow_api import entities, ids, lookups, paging
from registry.mlflow_api.base import params_of
from registry.mlflow_api.errors import invalid
from registry.mlflow_api.logged_model_records import (
    HOLDER_TAG,
    STATUSES,
    LoggedModelRecord,
    logged_model_create,
    logged_model_update,
    record_get,
    record_rows,
    records_of,
)
from registry.mlflow_api.search_filter import FilterInvalid, matches, parse_filter, parse_order_by
from registry.models import Run, RunMetricLatest
from registry.selectors import experiments as experiment_selectors
from registry.services import runs as run_services

SEARCH_MAX_PAGE = 100
SCAN_LIMIT = 50_000  # logged models read per search before the filter narrows them


def _record(request, model_id) -> LoggedModelRecord:
    run = lookups.run_get(acting_user=request.user, run_id=ids.logged_model_run_uuid(model_id).hex)
    return record_get(run=run, model_id=str(model_id))


def _metrics(record: LoggedModelRecord):
    return RunMetricLatest.objects.filter(run=record.run).order_by("key")


def _body(record: LoggedModelRecord) -> dict:
    return {"model": entities.logged_model_json(record, _metrics(record))}


def logged_models_create(request):
    params = params_of(request)
    name = params.string("name", max_length=250) or f"model-{secrets.token_hex(3)}"
    tags = params.pairs("tags", max_items=1_000)
    model_params = params.pairs("params", max_items=1_000)
    source_run_id = params.string("source_run_id")
    if source_run_id:
        run = lookups.run_get(acting_user=request.user, run_id=source_run_id)
    else:
        # mlgov keeps a model in a run: one made for it, ended once the model is ready
        experiment = lookups.experiment_get(
            acting_user=request.user,
            experiment_id=params.string("experiment_id", default=ids.DEFAULT_EXPERIMENT_ID),
            create_default=True,
        )
        run = run_services.run_create(acting_user=request.user, experiment=experiment, name=name,
                                      tags={HOLDER_TAG: "true", "mlflow.runName": name})
    record = logged_model_create(
        acting_user=request.user, run=run, name=name,
        model_type=params.string("model_type", max_length=250) or "",
        tags=tags, params=model_params,
    )
    return _body(record)


def logged_models_get(request, model_id):
    return _body(_record(request, model_id))


def logged_models_finalize(request, model_id):
    params = params_of(request)
    status = STATUSES.get(params.string("status", required=True))
    if status is None:
        raise invalid(f"status is one of {sorted(STATUSES)}.")
    record = _record(request, model_id)
    record = logged_model_update(acting_user=request.user, run=record.run,
                                 model_id=record.model_id, status=status)
    return _body(record)


def logged_models_delete(request, model_id):
    record = _record(request, model_id)
    logged_model_update(acting_user=request.user, run=record.run, model_id=record.model_id,
                        deleted=True)
    return {}


def logged_models_set_tags(request, model_id):
    params = params_of(request)
    record = _record(request, model_id)
    logged_model_update(acting_user=request.user, run=record.run, model_id=record.model_id,
                        tags=params.pairs("tags", max_items=1_000))
    return {}


def logged_models_delete_tag(request, model_id, tag_key):
    record = _record(request, model_id)
    logged_model_update(acting_user=request.user, run=record.run, model_id=record.model_id,
                        tag_removed=tag_key)
    return {}


def logged_models_log_params(request, model_id):
    params = params_of(request)
    record = _record(request, model_id)
    logged_model_update(acting_user=request.user, run=record.run, model_id=record.model_id,
                        params=params.pairs("params", max_items=1_000))
    return {}


# --- search --------------------------------------------------------------------------------

_ATTRIBUTES = {
    "name": ("string", lambda r, m: r.name),
    "model_id": ("string", lambda r, m: r.model_id),
    "model_type": ("string", lambda r, m: r.model_type),
    "status": ("string", lambda r, m: entities.LOGGED_MODEL_STATUS_OUT.get(r.status)),
    "source_run_id": ("string", lambda r, m: r.run.uuid.hex),
    "creation_timestamp": ("number", lambda r, m: r.created_ms),
    "creation_time": ("number", lambda r, m: r.created_ms),
    "last_updated_timestamp": ("number", lambda r, m: r.updated_ms),
}


def _value_of(condition, record: LoggedModelRecord, metrics: dict):
    if condition.entity == "attribute":
        found = _ATTRIBUTES.get(condition.key)
        if found is None:
            raise FilterInvalid(f"Invalid attribute {condition.key!r} for logged models; "
                                f"searchable: {sorted(_ATTRIBUTES)}.")
        return found[0], found[1](record, metrics)
    if condition.entity == "metric":  # the latest value of the run that logged the model
        return "number", metrics.get(condition.key)
    if condition.entity == "param":
        return "string", record.params.get(condition.key)
    if condition.entity == "tag":
        return "string", record.tags.get(condition.key)
    raise FilterInvalid(f"{condition.entity}s are not searchable for logged models.")


def _sort_key(kind: str, getter):
    def key(record: LoggedModelRecord):
        value = getter(record, {})
        if kind == "number":
            return (value is not None, value or 0)
        return (value is not None, str(value or ""))

    return key


def logged_models_search(request):
    params = params_of(request)
    experiment_ids = params.strings("experiment_ids", max_items=100)
    size = paging.page_size(params.raw("max_results"), default=SEARCH_MAX_PAGE,
                            maximum=SEARCH_MAX_PAGE)
    text = params.string("filter")
    orders = params.objects("order_by", max_items=10)
    try:
        conditions = parse_filter(text)
        terms = [(str(item.get("field_name") or ""), item.get("ascending", True) is not False)
                 for item in orders]
        for field_name, _ in terms:
            parse_order_by([field_name])
    except FilterInvalid as error:
        raise invalid(str(error)) from None
    visible = experiment_selectors.experiment_list(acting_user=request.user).filter(
        pk__in=[int(x) for x in experiment_ids if x.isdigit() and len(x) <= 18]
    )
    runs = Run.objects.filter(experiment__in=visible)
    rows = list(record_rows(runs)[: SCAN_LIMIT + 1])
    if len(rows) > SCAN_LIMIT:
        raise invalid("Too many logged models in these experiments; search fewer at a time.")
    run_map = {run.pk: run for run in Run.objects.filter(pk__in={row[0] for row in rows})}
    records = [r for r in records_of(rows, run_map) if not r.deleted]
    metrics: dict[int, dict[str, float]] = {}
    for run_pk, key, value in RunMetricLatest.objects.filter(
        run_id__in=run_map
    ).values_list("run_id", "key", "value"):
        metrics.setdefault(run_pk, {})[key] = value
    try:
        found = []
        for record in records:
            run_metrics = metrics.get(record.run.pk, {})
            if all(matches(condition, value, kind=kind)
                   for condition in conditions
                   for kind, value in [_value_of(condition, record, run_metrics)]):
                found.append(record)
    except FilterInvalid as error:
        raise invalid(str(error)) from None
    found.sort(key=lambda r: (-r.created_ms, r.model_id))
    for field_name, ascending in reversed(terms):  # stable sorts: the first term wins
        attribute = _ATTRIBUTES.get(field_name.removeprefix("attributes."))
        if attribute is None:
            raise invalid(f"Cannot order logged models by {field_name!r}.")
        found.sort(key=_sort_key(*attribute), reverse=not ascending)
    fingerprint = paging.query_fingerprint("logged-models", sorted(experiment_ids), text, orders)
    offset = paging.offset_from(params.string("page_token"), fingerprint)
    page, token = paging.slice_page(found, offset, size, fingerprint)
    body: dict = {"models": [entities.logged_model_json(record) for record in page]}
    if token:
        body["next_page_token"] = token
    return body


MODEL = "logged-models/<str:model_id>"
ROUTES = [
    ("POST", "2.0", "logged-models", logged_models_create, None),
    ("POST", "2.0", "logged-models/search", logged_models_search, "read"),
    ("GET", "2.0", MODEL, logged_models_get, None),
    ("PATCH", "2.0", MODEL, logged_models_finalize, None),
    ("DELETE", "2.0", MODEL, logged_models_delete, None),
    ("PATCH", "2.0", f"{MODEL}/tags", logged_models_set_tags, None),
    ("DELETE", "2.0", f"{MODEL}/tags/<str:tag_key>", logged_models_delete_tag, None),
    ("POST", "2.0", f"{MODEL}/params", logged_models_log_params, None),
]
