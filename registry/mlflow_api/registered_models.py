"""`/api/2.0/mlflow/registered-models/*` on mlgov's registered models: create, get, rename,
update, delete, search, get-latest-versions, tags, and aliases.

Creating needs the role's `registry.add_registeredmodel`; the rest is the model's object
permissions (view to see it, else RESOURCE_DOES_NOT_EXIST; change to edit or alias;
delete to delete). Setting or removing an alias goes through the one gated service,
registry.services.stages.model_version_transition: when a governance gate refuses, the
client gets PERMISSION_DENIED with the failing checks in the message.
"""

from __future__ import annotations

import re

from django.db.models import F, Q

from registry.mlflow_api import entities, lookups, paging
from registry.mlflow_api.base import params_of
from registry.mlflow_api.errors import invalid, not_found
from registry.mlflow_api.experiments import _ms_to_datetime
from registry.mlflow_api.search_filter import (
    Field,
    FilterInvalid,
    SearchSpec,
    compare,
    filter_q,
    order_expressions,
)
from registry.models import ModelAlias, ModelVersion, RegisteredModel, RegisteredModelTag
from registry.selectors import models as selectors
from registry.services import models as services
from registry.services.stages import model_version_transition

SEARCH_MAX_PAGE = 1_000
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def _tag_condition(key: str, op: str, value) -> Q:
    rows = RegisteredModelTag.objects.filter(key=key)
    if op == "IS NULL":
        return ~Q(pk__in=rows.values("registered_model_id"))
    if op != "IS NOT NULL":
        rows = rows.filter(compare("value", op, value))
    return Q(pk__in=rows.values("registered_model_id"))


MODEL_SEARCH = SearchSpec(
    name="registered models",
    attributes={
        "name": Field("string", "name"),
        "creation_timestamp": Field("number", "created_at", convert=_ms_to_datetime),
        "last_updated_timestamp": Field("number", "updated_at", convert=_ms_to_datetime),
    },
    keyed={"tag": ("string", _tag_condition)},
    aliases={"timestamp": "creation_timestamp"},
    order_paths={"name": "name", "creation_timestamp": "created_at",
                 "last_updated_timestamp": "updated_at"},
)


def check_name(name: str) -> str:
    if _CONTROL.search(name):
        raise invalid("Names cannot contain control characters.")
    return name


def latest_versions(model_ids, stages: list[str] | None = None, *, acting_user) -> dict:
    """model id -> [version JSON]: the newest version of each stage (one query)."""
    rows = (
        selectors.model_version_list(acting_user=acting_user)
        .filter(registered_model_id__in=model_ids)
        .order_by("registered_model_id", "stage", "-version")
        .distinct("registered_model_id", "stage")
    )
    if stages:
        rows = rows.filter(stage__in=stages)
    found: dict[int, list[dict]] = {}
    for version in rows:
        found.setdefault(version.registered_model_id, []).append(
            entities.model_version_json(version)
        )
    for versions in found.values():
        versions.sort(key=lambda body: int(body["version"]))
    return found


def model_body(model: RegisteredModel, latest: list[dict] | None = None) -> dict:
    """A model from registry.selectors.models.registered_model_list (tags and aliases
    prefetched)."""
    return entities.registered_model_json(
        model,
        tags=[(tag.key, tag.value) for tag in model.tags.all()],
        aliases=[(alias.alias, alias.model_version.version) for alias in model.aliases.all()],
        latest=latest,
    )


def model_fresh(user, model: RegisteredModel) -> dict:
    fresh = selectors.registered_model_list(acting_user=user).get(pk=model.pk)
    return model_body(fresh, latest_versions([model.pk], acting_user=user).get(model.pk, []))


def _model(request, params, field: str = "name") -> RegisteredModel:
    name = params.string(field, required=True, max_length=250)
    return lookups.model_get(acting_user=request.user, name=name)


def models_create(request):
    params = params_of(request)
    lookups.require_role_permission(request.user, "registry.add_registeredmodel",
                                    "register models")
    name = check_name(params.string("name", required=True, max_length=250).strip())
    tags = params.pairs("tags", max_items=services.MAX_TAGS)
    model = services.registered_model_create(
        acting_user=request.user,
        name=name,
        description=params.string("description", default="", max_length=20_000) or "",
        tags=tags,
    )
    return {"registered_model": model_fresh(request.user, model)}


def models_get(request):
    params = params_of(request)
    return {"registered_model": model_fresh(request.user, _model(request, params))}


def models_rename(request):
    params = params_of(request)
    model = _model(request, params)
    lookups.require_model_permission(request.user, model, "change")
    new_name = check_name(params.string("new_name", required=True, max_length=250).strip())
    services.registered_model_update(acting_user=request.user, model=model, name=new_name)
    return {"registered_model": model_fresh(request.user, model)}


def models_update(request):
    params = params_of(request)
    model = _model(request, params)
    lookups.require_model_permission(request.user, model, "change")
    description = params.string("description", max_length=20_000)
    if description is not None:
        services.registered_model_update(acting_user=request.user, model=model,
                                         description=description)
    return {"registered_model": model_fresh(request.user, model)}


def models_delete(request):
    params = params_of(request)
    model = _model(request, params)
    lookups.require_model_permission(request.user, model, "delete")
    services.registered_model_delete(acting_user=request.user, model=model)
    return {}


def models_search(request):
    params = params_of(request)
    size = paging.page_size(params.raw("max_results"), default=100, maximum=SEARCH_MAX_PAGE,
                            hard_limit=SEARCH_MAX_PAGE)
    text = params.string("filter")
    order_by = params.strings("order_by")
    try:
        queryset = selectors.registered_model_list(acting_user=request.user).filter(
            filter_q(MODEL_SEARCH, text)
        )
        ordering = order_expressions(MODEL_SEARCH, order_by, [F("name").asc(), F("pk").asc()])
    except FilterInvalid as error:
        raise invalid(str(error)) from None
    fingerprint = paging.query_fingerprint("registered-models", text, order_by)
    offset = paging.offset_from(params.string("page_token"), fingerprint)
    rows, token = paging.slice_page(queryset.order_by(*ordering), offset, size, fingerprint)
    latest = latest_versions([row.pk for row in rows], acting_user=request.user)
    body: dict = {"registered_models": [model_body(row, latest.get(row.pk, [])) for row in rows]}
    if token:
        body["next_page_token"] = token
    return body


def models_latest_versions(request):
    params = params_of(request)
    model = _model(request, params)
    stages = []
    for stage in params.strings("stages", max_items=10):
        value = entities.STAGE_IN.get(stage.lower())
        if value is None:
            raise invalid(f"Invalid stage {stage!r}: None, Staging, Production or Archived.")
        stages.append(value)
    latest = latest_versions([model.pk], stages or None, acting_user=request.user)
    return {"model_versions": latest.get(model.pk, [])}


def models_set_tag(request):
    params = params_of(request)
    model = _model(request, params)
    lookups.require_model_permission(request.user, model, "change")
    key = params.string("key", required=True, max_length=250)
    value = params.string("value", default="", max_length=5_000) or ""
    services.registered_model_update(acting_user=request.user, model=model, tags={key: value})
    return {}


def models_delete_tag(request):
    params = params_of(request)
    model = _model(request, params)
    lookups.require_model_permission(request.user, model, "change")
    key = params.string("key", required=True, max_length=250)
    if not RegisteredModelTag.objects.filter(registered_model=model, key=key).exists():
        raise not_found(f"Registered model {model.name!r} has no tag {key!r}.")
    services.registered_model_update(acting_user=request.user, model=model, tags={key: None})
    return {}


# --- aliases -------------------------------------------------------------------------------


def _version_body(user, version: ModelVersion) -> dict:
    return entities.model_version_json(
        selectors.model_version_list(acting_user=user).get(pk=version.pk)
    )


def alias_set(request):
    params = params_of(request)
    model = _model(request, params)
    lookups.require_model_permission(request.user, model, "change")
    alias = params.string("alias", required=True, max_length=100)
    version = lookups.version_get(acting_user=request.user, name=model.name,
                                  version=params.string("version", required=True))
    model_version_transition(acting_user=request.user, version=version, alias=alias,
                             reason="set through the MLflow API")
    return {}


def alias_delete(request):
    params = params_of(request)
    model = _model(request, params)
    lookups.require_model_permission(request.user, model, "change")
    alias = params.string("alias", required=True, max_length=100)
    row = ModelAlias.objects.select_related("model_version").filter(
        registered_model=model, alias=alias).first()
    if row is None:
        raise not_found(f"Registered model {model.name!r} has no alias {alias!r}.")
    model_version_transition(acting_user=request.user, version=row.model_version, alias=alias,
                             remove_alias=True, reason="removed through the MLflow API")
    return {}


def alias_get(request):
    params = params_of(request)
    model = _model(request, params)
    alias = params.string("alias", required=True, max_length=100)
    row = ModelAlias.objects.select_related("model_version").filter(
        registered_model=model, alias=alias).first()
    if row is None:
        raise not_found(f"Registered model {model.name!r} has no alias {alias!r}.")
    return {"model_version": _version_body(request.user, row.model_version)}


ROUTES = [
    ("POST", "2.0", "registered-models/create", models_create, None),
    ("GET", "2.0", "registered-models/get", models_get, None),
    ("POST", "2.0", "registered-models/rename", models_rename, None),
    ("PATCH", "2.0", "registered-models/update", models_update, None),
    ("DELETE", "2.0", "registered-models/delete", models_delete, None),
    ("GET", "2.0", "registered-models/search", models_search, None),
    ("POST", "2.0", "registered-models/get-latest-versions", models_latest_versions, "read"),
    ("GET", "2.0", "registered-models/get-latest-versions", models_latest_versions, None),
    ("POST", "2.0", "registered-models/set-tag", models_set_tag, None),
    ("DELETE", "2.0", "registered-models/delete-tag", models_delete_tag, None),
    ("POST", "2.0", "registered-models/alias", alias_set, None),
    ("DELETE", "2.0", "registered-models/alias", alias_delete, None),
    ("GET", "2.0", "registered-models/alias", alias_get, None),
]
