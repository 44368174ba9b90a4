"""Reads of training jobs.

Jobs are seen through the role permission `training.view_trainingjob`, which every role
holds; a member without a role sees none. (Every role also sees every dataset and model
through its role, so a job never shows a member something their role hides.)
"""

from __future__ import annotations

from django.contrib.auth.models import User
from django.db.models import QuerySet

from training.models import TrainingJob

VIEW_PERMISSION = "training.view_trainingjob"


def training_job_list(
    *, acting_user: User, state: str | None = None, recipe: str | None = None
) -> QuerySet[TrainingJob]:
    """The tenant's jobs, newest first, optionally by state and recipe; the log (up to
    64 kB a job) is left out of lists."""
    if not acting_user.has_perm(VIEW_PERMISSION):
        return TrainingJob.objects.none()
    jobs = (
        TrainingJob.objects.select_related("created_by", "dataset_version__dataset")
        .defer("log")
        .order_by("-created_at", "-id")
    )
    if state:
        jobs = jobs.filter(state=state)
    if recipe:
        jobs = jobs.filter(recipe=recipe)
    return jobs


def training_job_get(*, acting_user: User, job_id: int) -> TrainingJob:
    """One job with its log; TrainingJob.DoesNotExist when the user may not see it."""
    if not acting_user.has_perm(VIEW_PERMISSION):
        raise TrainingJob.DoesNotExist
    return TrainingJob.objects.select_related(
        "created_by", "dataset_version__dataset", "model_version__registered_model"
    ).get(pk=job_id)
