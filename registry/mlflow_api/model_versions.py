"""`/api/2.0/mlflow/model-versions/*`: create (registration.py), get, update, delete,
search, transition-stage, get-download-uri and tags.

Versions inherit their model's permissions: view to see, change to register, edit, tag or
move stages. Every stage change goes through the one gated service,
registry.services.stages.model_version_transition; a gate's refusal is PERMISSION_DENIED
with the failing checks in the message. Versions are evidence: mlgov never deletes one.
"""

from __future__ import annotations

from django.db.models import F, Q

from registry.mlflow_api import entities, ids, lookups, paging
from registry.mlflow_api.base import params_of
from registry.mlflow_api.errors import MlflowError, invalid
from registry.mlflow_api.registered_models import _version_body, check_name
from registry.mlflow_api.registration import register
from registry.mlflow_api.search_filter import (
    Field,
    FilterInvalid,
    SearchSpec,
    compare,
    filter_q,
    order_expressions,
)
from registry.mlflow_api.services import model_version_tag_delete, model_version_tag_set
from registry.models import ModelVersionTag
from registry.selectors import models as selectors
from registry.services import versions as services
from registry.services.stages import model_version_transition

SEARCH_MAX_PAGE = 1_000


def _tag_condition(key: str, op: str, value) -> Q:
    if key.startswith(entities.INTERNAL_PREFIX):
        raise FilterInvalid(f"Tags starting with {entities.INTERNAL_PREFIX!r} are not searchable.")
    rows = ModelVersionTag.objects.filter(key=key)
    if op == "IS NULL":
        return ~Q(pk__in=rows.values("model_version_id"))
    if op != "IS NOT NULL":
        rows = rows.filter(compare("value", op, value))
    return Q(pk__in=rows.values("model_version_id"))


def _run_uuid(value: str):
    try:
        return ids.run_uuid(value)
    except MlflowError:
        raise FilterInvalid(f"{value!r} is not a run id.") from None


def _stage(value: str) -> str:
    stage = entities.STAGE_IN.get(value.lower())
    if stage is None:
        raise FilterInvalid(f"{value!r} is not a stage.")
    return stage


VERSION_SEARCH = SearchSpec(
    name="model versions",
    attributes={
        "name": Field("string", "registered_model__name"),
        "version_number": Field("number", "version", convert=int),
        "run_id": Field("string", "run__uuid", convert=_run_uuid),
        "current_stage": Field("string", "stage", convert=_stage),
    },
    keyed={"tag": ("string", _tag_condition)},
    aliases={"version": "version_number"},
    order_paths={"name": "registered_model__name", "version_number": "version",
                 "creation_timestamp": "created_at", "last_updated_timestamp": "updated_at"},
)


def _version(request, params):
    return lookups.version_get(
        acting_user=request.user,
        name=params.string("name", required=True, max_length=250),
        version=params.string("version", required=True, max_length=20),
    )


def versions_create(request):
    params = params_of(request)
    name = check_name(params.string("name", required=True, max_length=250))
    model = lookups.model_get(acting_user=request.user, name=name)
    tags = params.pairs("tags", max_items=100)
    if any(key.startswith(entities.INTERNAL_PREFIX) for key in tags):
        raise invalid(f"Tag keys starting with {entities.INTERNAL_PREFIX!r} are reserved.")
    registration = register(
        acting_user=request.user,
        model=model,
        source_text=params.string("source", default="", max_length=5_000) or "",
        model_id=params.string("model_id", max_length=100),
        description=params.string("description", default="", max_length=20_000) or "",
        tags=tags,
    )
    return {"model_version": _version_body(request.user, registration.version)}


def versions_get(request):
    params = params_of(request)
    return {"model_version": _version_body(request.user, _version(request, params))}


def versions_update(request):
    params = params_of(request)
    version = _version(request, params)
    lookups.require_model_permission(request.user, version.registered_model, "change")
    description = params.string("description", max_length=20_000)
    if description is not None:
        services.model_version_update(acting_user=request.user, version=version,
                                      description=description)
    return {"model_version": _version_body(request.user, version)}


def versions_delete(request):
    params = params_of(request)
    version = _version(request, params)
    lookups.require_model_permission(request.user, version.registered_model, "delete")
    raise MlflowError(
        "RESOURCE_CONFLICT",
        "mlgov keeps every model version as evidence and never deletes one; move it to the "
        "Archived stage instead.",
    )


def versions_transition_stage(request):
    params = params_of(request)
    version = _version(request, params)
    lookups.require_model_permission(request.user, version.registered_model, "change")
    raw = params.string("stage", required=True, max_length=50)
    stage = entities.STAGE_IN.get(raw.lower())
    if stage is None:
        raise invalid(f"Invalid stage {raw!r}: None, Staging, Production or Archived.")
    # archive_existing_versions is implied for Production (one production version per
    # model); for the other stages mlgov does not archive others.
    model_version_transition(acting_user=request.user, version=version, stage=stage,
                             reason="requested through the MLflow API")
    return {"model_version": _version_body(request.user, version)}


def versions_search(request):
    params = params_of(request)
    size = paging.page_size(params.raw("max_results"), default=SEARCH_MAX_PAGE,
                            maximum=SEARCH_MAX_PAGE,
                            hard_limit=200_000)
    text = params.string("filter")
    order_by = params.strings("order_by")
    try:
        queryset = selectors.model_version_list(acting_user=request.user).filter(
            filter_q(VERSION_SEARCH, text)
        )
        ordering = order_expressions(
            VERSION_SEARCH, order_by,
            [F("registered_model__name").asc(), F("version").desc(), F("pk").asc()],
        )
    except FilterInvalid as error:
        raise invalid(str(error)) from None
    fingerprint = paging.query_fingerprint("model-versions", text, order_by)
    offset = paging.offset_from(params.string("page_token"), fingerprint)
    rows, token = paging.slice_page(queryset.order_by(*ordering), offset, size, fingerprint)
    body: dict = {"model_versions": [entities.model_version_json(row) for row in rows]}
    if token:
        body["next_page_token"] = token
    return body


def versions_download_uri(request):
    params = params_of(request)
    version = _version(request, params)
    return {"artifact_uri": ids.version_artifact_uri(version)}


def versions_set_tag(request):
    params = params_of(request)
    version = _version(request, params)
    lookups.require_model_permission(request.user, version.registered_model, "change")
    key = params.string("key", required=True, max_length=250)
    if key.startswith(entities.INTERNAL_PREFIX):
        raise invalid(f"Tag keys starting with {entities.INTERNAL_PREFIX!r} are reserved.")
    value = params.string("value", default="", max_length=5_000) or ""
    model_version_tag_set(acting_user=request.user, version=version, key=key, value=value)
    return {}


def versions_delete_tag(request):
    params = params_of(request)
    version = _version(request, params)
    lookups.require_model_permission(request.user, version.registered_model, "change")
    key = params.string("key", required=True, max_length=250)
    if key.startswith(entities.INTERNAL_PREFIX):
        raise invalid(f"Tag keys starting with {entities.INTERNAL_PREFIX!r} are reserved.")
    model_version_tag_delete(acting_user=request.user, version=version, key=key)
    return {}


ROUTES = [
    ("POST", "2.0", "model-versions/create", versions_create, None),
    ("GET", "2.0", "model-versions/get", versions_get, None),
    ("PATCH", "2.0", "model-versions/update", versions_update, None),
    ("DELETE", "2.0", "model-versions/delete", versions_delete, None),
    ("POST", "2.0", "model-versions/transition-stage", versions_transition_stage, None),
    ("GET", "2.0", "model-versions/search", versions_search, None),
    ("GET", "2.0", "model-versions/get-download-uri", versions_download_uri, None),
    ("POST", "2.0", "model-versions/set-tag", versions_set_tag, None),
    ("DELETE", "2.0", "model-versions/delete-tag", versions_delete_tag, None),
]
