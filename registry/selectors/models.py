"""Reads of registered models, versions, aliases and transitions.

Versions inherit visibility from their model: a user sees a version when they hold `view`
on its model (by role or by grant). Lists fetch their relations up front, so their query
count does not grow with the number of rows.
"""

from __future__ import annotations

import re
import uuid

from django.contrib.auth.models import User
from django.contrib.postgres.expressions import ArraySubquery
from django.db.models import Count, F, Max, OuterRef, Prefetch, QuerySet
from django.db.models.functions import JSONObject

from mlgov.api.viewsets import restrict
from registry.models import (
    Experiment,
    ModelAlias,
    ModelCard,
    ModelVersion,
    ModelVersionTag,
    RegisteredModel,
    Run,
    StageTransition,
)

# Primary keys are bigints: longer digit strings would overflow in the database, not 404.
_PK = re.compile(r"[0-9]{1,18}")


def registered_model_list(*, acting_user: User, action: str = "view") -> QuerySet:
    """Models the user holds `action` on, with tags, aliases and version figures."""
    models = restrict(RegisteredModel.objects.all(), acting_user, action)
    return (
        models.annotate(
            version_count=Count("versions", distinct=True),
            latest_version=Max("versions__version"),
        )
        .prefetch_related(
            "tags",
            Prefetch("aliases", queryset=ModelAlias.objects.select_related("model_version")),
        )
        .select_related("created_by")
        .order_by("name")
    )  # Meta.ordering is dropped with GROUP BY


def visible_models(*, acting_user: User) -> QuerySet:
    """The bare queryset of models the user may see (for filtering related rows)."""
    return restrict(RegisteredModel.objects.all(), acting_user, "view")


def model_version_list(*, acting_user: User, model_id: int | None = None) -> QuerySet:
    """Versions of the models the user may see, newest first, with everything the list shows."""
    visible = visible_models(acting_user=acting_user)
    versions = ModelVersion.objects.filter(registered_model__in=visible)
    if model_id is not None:
        versions = versions.filter(registered_model_id=model_id)
    # One query for the page: related values the list shows are columns and arrays, not
    # related objects (a list page builds 100 rows, not 500 instances and three prefetches).
    tag_pairs = ModelVersionTag.objects.filter(model_version=OuterRef("pk")).order_by("key")
    alias_names = ModelAlias.objects.filter(model_version=OuterRef("pk")).order_by("alias")
    return (
        versions.select_related("registered_model")
        .defer("signed_payload", "reference_profile", "registered_model__description")
        .annotate(
            run_uuid=F("run__uuid"),
            size_bytes=F("artifact__size_bytes"),
            created_by_username=F("created_by__username"),
            tag_pairs=ArraySubquery(tag_pairs.values(pair=JSONObject(key="key", value="value"))),
            alias_names=ArraySubquery(alias_names.values("alias")),
        )
        .order_by("registered_model__name", "-version")
    )


def model_version_get(*, acting_user: User, version_id: int) -> ModelVersion | None:
    """One visible version, or None."""
    return model_version_list(acting_user=acting_user).filter(pk=version_id).first()


def model_card_get(*, version: ModelVersion) -> ModelCard | None:
    """The version's card, or None while nobody has written it."""
    return ModelCard.objects.filter(model_version=version).select_related("updated_by").first()


def model_alias_list(*, model: RegisteredModel) -> QuerySet:
    """The aliases of a model the caller already resolved as visible."""
    return (
        ModelAlias.objects.filter(registered_model=model)
        .select_related("model_version")
        .order_by("alias")
    )


def stage_transition_list(*, version: ModelVersion) -> QuerySet:
    """Who moved the version to which stage or alias, newest first."""
    return (
        StageTransition.objects.filter(model_version=version)
        .select_related("actor")
        .order_by("-created_at", "-id")
    )


def run_for_registration(*, acting_user: User, run_ref: str) -> Run | None:
    """A run whose files the user may read (`download` on its experiment), by id or UUID.

    Registering a run's file makes the registrant the owner of a downloadable copy, so
    seeing the run is not enough.
    """
    runs = Run.objects.filter(
        experiment__in=restrict(Experiment.objects.all(), acting_user, "download")
    )
    text = str(run_ref).strip()
    if _PK.fullmatch(text):
        return runs.filter(pk=int(text)).first()
    try:
        return runs.filter(uuid=uuid.UUID(text)).first()
    except ValueError:
        return None
