"""Recent activity in the registry, restricted to what the acting user may see: the
console's dashboard and the lineage page's starting points read here."""

from __future__ import annotations

from django.contrib.auth.models import User
from django.db.models import QuerySet

from registry.models import DatasetVersion, StageTransition
from registry.selectors.datasets import dataset_list
from registry.selectors.models import visible_models


def stage_transition_recent(*, acting_user: User, limit: int = 10) -> QuerySet:
    """The latest stage and alias changes of the versions of models the user may see."""
    return (
        StageTransition.objects.filter(
            model_version__registered_model__in=visible_models(acting_user=acting_user)
        )
        .select_related("actor", "model_version__registered_model")
        .order_by("-created_at", "-id")[:limit]
    )


def dataset_version_recent(*, acting_user: User, limit: int = 10) -> QuerySet:
    """The newest versions of the datasets the user may see."""
    return (
        DatasetVersion.objects.filter(dataset__in=dataset_list(acting_user=acting_user))
        .select_related("dataset")
        .order_by("-created_at", "-id")[:limit]
    )
