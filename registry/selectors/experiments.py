"""Reads of experiments, restricted to what the acting user may see."""

from __future__ import annotations

from django.contrib.auth.models import User
from django.db.models import QuerySet

from mlgov.api.viewsets import restrict
from registry.models import Experiment

LIFECYCLE_FILTERS = ("active", "deleted", "all")


def experiment_list(*, acting_user: User, lifecycle_stage: str = "all") -> QuerySet[Experiment]:
    """Experiments the user may view (role or object grant); `lifecycle_stage` is
    "active", "deleted" or "all"."""
    queryset = restrict(Experiment.objects.select_related("created_by"), acting_user, "view")
    if lifecycle_stage != "all":
        queryset = queryset.filter(lifecycle_stage=lifecycle_stage)
    return queryset.order_by("name")


def visible_experiment_ids(*, acting_user: User) -> QuerySet:
    """A subquery of the ids of experiments the user may view (for runs and their data)."""
    return restrict(Experiment.objects.all(), acting_user, "view").values("pk")


def experiment_get(*, acting_user: User, experiment_id: int) -> Experiment:
    """One visible experiment (deleted ones too); Experiment.DoesNotExist otherwise."""
    return experiment_list(acting_user=acting_user).get(pk=experiment_id)
