"""`/api/2.0/mlflow/experiments/*` on mlgov's experiments (registry.services.experiments).

Creating needs the role's `registry.add_experiment`; the rest is decided by the
experiment's object permissions inside the services (view, change, delete). MLflow keeps an
experiment's description in the tag `mlflow.note.content`: here it is the description.
"""

from __future__ import annotations

from django.db.models import F, Q
from django.db.models.fields.json import KeyTextTransform
from django.db.models.lookups import (
    Exact,
    GreaterThan,
    GreaterThanOrEqual,
    In,
    IRegex,
    LessThan,
    LessThanOrEqual,
    Regex,
)

from registry.mlflow_api import entities, lookups, paging
from registry.mlflow_api.base import params_of
from registry.mlflow_api.errors import invalid, not_found
from registry.mlflow_api.search_filter import (
    Field,
    FilterInvalid,
    SearchSpec,
    filter_q,
    like_regex,
    order_expressions,
)
from registry.models import Experiment
from registry.selectors import experiments as experiment_selectors
from registry.services import experiments as services

NOTE_TAG = "mlflow.note.content"
SEARCH_MAX_PAGE = 1_000
SEARCH_HARD_LIMIT = 50_000  # MLflow refuses more per request
VIEW_TYPES = {"ACTIVE_ONLY": "active", "DELETED_ONLY": "deleted", "ALL": "all",
              "1": "active", "2": "deleted", "3": "all"}


def _ms_to_datetime(value: float):
    from datetime import UTC, datetime

    try:
        return datetime.fromtimestamp(value / 1000, tz=UTC)
    except (OverflowError, OSError, ValueError):
        raise FilterInvalid(f"{value!r} is not a time in milliseconds.") from None


_JSON_LOOKUPS = {
    "=": Exact, "<": LessThan, "<=": LessThanOrEqual, ">": GreaterThan,
    ">=": GreaterThanOrEqual, "IN": In,
}  # fmt: skip


def json_text_condition(column: str, key: str, op: str, value) -> Q:
    """A condition on one key of a JSON object column (experiment tags): the key must be
    present, as for MLflow's tag conditions ("!=": present with another value)."""
    text = KeyTextTransform(key, column)
    present = Q(**{f"{column}__has_key": key})
    if op == "IS NULL":
        return ~present
    if op == "IS NOT NULL":
        return present
    if op == "!=":
        return present & ~Q(Exact(text, value))
    if op == "NOT IN":
        return present & ~Q(In(text, list(value)))
    if op == "LIKE":
        return present & Q(Regex(text, like_regex(value)))
    if op == "ILIKE":
        return present & Q(IRegex(text, like_regex(value)))
    lookup = _JSON_LOOKUPS[op]
    return present & Q(lookup(text, list(value) if op == "IN" else value))


EXPERIMENT_SEARCH = SearchSpec(
    name="experiments",
    attributes={
        "name": Field("string", "name"),
        "experiment_id": Field("string", "pk", convert=lambda v: int(v) if v.isdigit() else -1),
        "creation_time": Field("number", "created_at", convert=_ms_to_datetime),
        "last_update_time": Field("number", "updated_at", convert=_ms_to_datetime),
    },
    keyed={"tag": ("string", lambda key, op, value: json_text_condition("tags", key, op, value))},
    order_paths={"name": "name", "experiment_id": "pk", "creation_time": "created_at",
                 "last_update_time": "updated_at"},
    order_keyed={"tag": lambda key: KeyTextTransform(key, "tags")},
)


def _tag_pairs(params) -> tuple[str, dict[str, str]]:
    tags = params.pairs("tags", max_items=services.MAX_TAGS + 1)
    description = tags.pop(NOTE_TAG, "")
    return description, tags


def experiments_create(request):
    params = params_of(request)
    lookups.require_role_permission(request.user, "registry.add_experiment", "create experiments")
    name = params.string("name", required=True, max_length=services.MAX_NAME_LENGTH)
    if params.string("artifact_location"):
        raise invalid("mlgov assigns artifact locations itself; leave artifact_location empty.")
    description, tags = _tag_pairs(params)
    experiment = services.experiment_create(
        acting_user=request.user, name=name, description=description, tags=tags
    )
    return {"experiment_id": str(experiment.pk)}


def experiments_get(request):
    params = params_of(request)
    experiment = lookups.experiment_get(
        acting_user=request.user, experiment_id=params.string("experiment_id", required=True)
    )
    return {"experiment": entities.experiment_json(experiment)}


def experiments_get_by_name(request):
    params = params_of(request)
    name = params.string("experiment_name", required=True, max_length=services.MAX_NAME_LENGTH)
    return {
        "experiment": entities.experiment_json(
            lookups.experiment_by_name(acting_user=request.user, name=name)
        )
    }


def experiments_search(request):
    params = params_of(request)
    view_type = VIEW_TYPES.get(str(params.string("view_type") or "ACTIVE_ONLY").upper())
    if view_type is None:
        raise invalid("view_type is ACTIVE_ONLY, DELETED_ONLY or ALL.")
    size = paging.page_size(params.raw("max_results"), default=SEARCH_MAX_PAGE,
                            maximum=SEARCH_MAX_PAGE, hard_limit=SEARCH_HARD_LIMIT)
    text = params.string("filter")
    order_by = params.strings("order_by")
    try:
        queryset = experiment_selectors.experiment_list(
            acting_user=request.user, lifecycle_stage=view_type
        ).filter(filter_q(EXPERIMENT_SEARCH, text))
        ordering = order_expressions(
            EXPERIMENT_SEARCH, order_by, [F("created_at").desc(), F("pk").asc()]
        )
    except FilterInvalid as error:
        raise invalid(str(error)) from None
    fingerprint = paging.query_fingerprint("experiments", view_type, text, order_by)
    offset = paging.offset_from(params.string("page_token"), fingerprint)
    rows, token = paging.slice_page(queryset.order_by(*ordering), offset, size, fingerprint)
    body: dict = {"experiments": [entities.experiment_json(row) for row in rows]}
    if token:
        body["next_page_token"] = token
    return body


def _experiment(request, params) -> Experiment:
    return lookups.experiment_get(
        acting_user=request.user, experiment_id=params.string("experiment_id", required=True)
    )


def experiments_delete(request):
    params = params_of(request)
    services.experiment_delete(acting_user=request.user, experiment=_experiment(request, params))
    return {}


def experiments_restore(request):
    params = params_of(request)
    services.experiment_restore(acting_user=request.user, experiment=_experiment(request, params))
    return {}


def experiments_update(request):
    params = params_of(request)
    experiment = _experiment(request, params)
    new_name = params.string("new_name", max_length=services.MAX_NAME_LENGTH)
    if new_name:
        services.experiment_update(acting_user=request.user, experiment=experiment, name=new_name)
    return {}


def experiments_set_tag(request):
    params = params_of(request)
    experiment = _experiment(request, params)
    key = params.string("key", required=True, max_length=services.MAX_TAG_KEY_LENGTH)
    value = params.string("value", default="", max_length=services.MAX_TAG_VALUE_LENGTH) or ""
    if key == NOTE_TAG:
        services.experiment_update(acting_user=request.user, experiment=experiment,
                                   description=value)
    else:
        services.experiment_update(acting_user=request.user, experiment=experiment,
                                   tags={**experiment.tags, key: value})
    return {}


def experiments_delete_tag(request):
    params = params_of(request)
    experiment = _experiment(request, params)
    key = params.string("key", required=True, max_length=services.MAX_TAG_KEY_LENGTH)
    if key == NOTE_TAG:
        services.experiment_update(acting_user=request.user, experiment=experiment,
                                   description="")
        return {}
    if key not in experiment.tags:
        raise not_found(f"No tag with name: {key} in experiment {experiment.pk}.")
    tags = {name: value for name, value in experiment.tags.items() if name != key}
    services.experiment_update(acting_user=request.user, experiment=experiment, tags=tags)
    return {}


ROUTES = [
    ("POST", "2.0", "experiments/create", experiments_create, None),
    ("GET", "2.0", "experiments/get", experiments_get, None),
    ("GET", "2.0", "experiments/get-by-name", experiments_get_by_name, None),
    ("POST", "2.0", "experiments/search", experiments_search, "read"),
    ("GET", "2.0", "experiments/search", experiments_search, None),
    ("POST", "2.0", "experiments/delete", experiments_delete, None),
    ("POST", "2.0", "experiments/restore", experiments_restore, None),
    ("POST", "2.0", "experiments/update", experiments_update, None),
    ("POST", "2.0", "experiments/set-experiment-tag", experiments_set_tag, None),
    ("POST", "2.0", "experiments/delete-experiment-tag", experiments_delete_tag, None),
]
