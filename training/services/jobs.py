"""Training jobs as users see them: submit, cancel, retry (state changes: state.py).

Submitting checks everything a worker would trip over later (recipe, dataset version and
its visibility, the spec against the version's columns, that the results can be written
under the registered model's name) and the tenant's quotas, then creates the job and
sends its message after commit. A refusal creates nothing and sends nothing.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.db import connection, transaction

from mlgov.audit.recorder import record_event
from mlgov.queue import enqueue_after_commit
from registry import permissions
from registry.models import DatasetVersion, Experiment, RegisteredModel
from training.models import JobState, TrainingJob
from training.recipes import RECIPES
from training.services.state import job_lock, job_log_append, job_transition
from training.services.usage import current_tenant, submission_quotas_check
from training.spec import SpecError, parse_spec

MAX_PARALLELISM = 8
MAX_NAME_LENGTH = 250


class JobError(Exception):
    """A refusal the API answers with `status` and the stable `code`."""

    def __init__(self, status: int, code: str, message: str, details: dict | None = None):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details or {}


def _check_recipe(recipe: str) -> None:
    if recipe not in RECIPES:
        raise JobError(
            400,
            "unknown_recipe",
            f"There is no recipe {recipe!r}.",
            {"recipe": recipe, "recipes": sorted(RECIPES)},
        )


def _visible_dataset_version(user: User, dataset_version_id: int) -> DatasetVersion:
    version = (
        DatasetVersion.objects.select_related("dataset").filter(pk=dataset_version_id).first()
    )
    if version is None or not permissions.has_object_permission(user, version.dataset, "view"):
        # One the user may not see gets the answer of one that does not exist.
        raise JobError(
            400,
            "dataset_version_not_found",
            "No such dataset version.",
            {"dataset_version": dataset_version_id},
        )
    return version


def spec_with_dataset_defaults(recipe: str, version: DatasetVersion, spec: Any) -> Any:
    """What the dataset version declares fills what the spec leaves out: its target (for
    recipes that need one) and its sensitive attributes (never features unless the spec
    says so, always kept for evaluation)."""
    if not isinstance(spec, dict):
        return spec
    effective = dict(spec)
    if "target" not in effective and version.target and RECIPES[recipe].NEEDS_TARGET:
        effective["target"] = version.target
    if "sensitive_attributes" not in effective and version.sensitive_attributes:
        effective["sensitive_attributes"] = list(version.sensitive_attributes)
    return effective


def spec_check(recipe: str, version: DatasetVersion, spec: Any) -> None:
    """The spec, validated against the dataset version's columns (400 with the spec's code:
    invalid_spec, unknown_column, missing_target)."""
    columns = [column["name"] for column in version.columns]
    try:
        parse_spec(spec, columns=columns, needs_target=RECIPES[recipe].NEEDS_TARGET)
    except SpecError as error:
        raise JobError(400, error.code, error.message, {"field": error.field_name}) from None


def _check_writable(user: User, model, name: str, kind: str, add_permission: str) -> None:
    """The job writes into `model` named `name` as its submitter: an existing one needs
    view (else its name is simply taken) and change; a new one needs the role's add."""
    existing = model.objects.filter(name=name).first()
    if existing is None:
        if not user.has_perm(add_permission):
            raise JobError(
                403, "permission_denied", f"You may not create the {kind} {name!r}.",
                {"needs": add_permission},
            )
        return
    if not permissions.has_object_permission(user, existing, "view"):
        raise JobError(
            409, "name_taken", f"A {kind} named {name!r} exists.",
            {"field": "registered_model_name"},
        )
    if not permissions.has_object_permission(user, existing, "change"):
        raise JobError(
            403, "permission_denied", f"You may see the {kind} {name!r} but not change it.",
            {"needs": "change", "object": kind},
        )
    if getattr(existing, "lifecycle_stage", None) == Experiment.Lifecycle.DELETED:
        raise JobError(
            409, "experiment_deleted", f"The experiment {name!r} is deleted; restore it first."
        )


def destination_check(user: User, registered_model_name: str) -> str:
    """The job's results go to the registered model and the experiment of that name."""
    name = registered_model_name.strip()
    if not name or len(name) > MAX_NAME_LENGTH:
        raise JobError(
            400, "invalid_name", f"registered_model_name is 1 to {MAX_NAME_LENGTH} characters.",
            {"field": "registered_model_name"},
        )
    _check_writable(user, RegisteredModel, name, "registered model", "registry.add_registeredmodel")
    _check_writable(user, Experiment, name, "experiment", "registry.add_experiment")
    return name


def _serialise_submissions() -> None:
    # Quota counts and the insert happen under one per-tenant lock: two concurrent
    # submissions cannot both take the last free slot.
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))",
            [f"{connection.schema_name}:training-job-submit"],
        )


def _snapshot(job: TrainingJob) -> dict:
    return {
        "state": job.state,
        "recipe": job.recipe,
        "dataset_version": job.dataset_version_id,
        "registered_model_name": job.registered_model_name,
        "parallelism": job.parallelism,
        "attempt": job.attempt,
        "retry_of": job.retry_of_id,
        "spec": job.spec,
    }


@transaction.atomic
def training_job_submit(
    *,
    acting_user: User,
    dataset_version_id: int,
    recipe: str,
    spec: dict,
    registered_model_name: str,
    parallelism: int = 1,
    retry_of: TrainingJob | None = None,
) -> TrainingJob:
    """Create a queued training job and send it to the training queue after commit.

    Refused (JobError, or tenants.quotas.QuotaExceeded) before anything is written.
    """
    _check_recipe(recipe)
    if isinstance(parallelism, bool) or not isinstance(parallelism, int) or not (
        1 <= parallelism <= MAX_PARALLELISM
    ):
        raise JobError(
            400, "invalid_parallelism", f"parallelism is 1 to {MAX_PARALLELISM}.",
            {"field": "parallelism"},
        )
    version = _visible_dataset_version(acting_user, dataset_version_id)
    spec = spec_with_dataset_defaults(recipe, version, spec)
    spec_check(recipe, version, spec)
    name = destination_check(acting_user, registered_model_name)
    tenant = current_tenant()
    _serialise_submissions()
    submission_quotas_check(tenant)
    task_id = str(uuid.uuid4())
    job = TrainingJob.objects.create(
        state=JobState.QUEUED,
        dataset_version=version,
        recipe=recipe,
        spec=spec,
        registered_model_name=name,
        parallelism=parallelism,
        attempt=(retry_of.attempt + 1) if retry_of else 1,
        retry_of=retry_of,
        queue=settings.MLGOV_TRAINING_QUEUE,
        celery_task_id=task_id,
        created_by=acting_user if getattr(acting_user, "pk", None) else None,
    )
    job_log_append(job, job.pk, f"submitted by {acting_user.username} ({recipe})")
    record_event(
        actor=acting_user,
        action="trainingjob.submit",
        object_type="trainingjob",
        object_id=job.pk,
        after=_snapshot(job),
    )
    training_job_enqueue(job, task_id=task_id)
    return job


def training_job_enqueue(job: TrainingJob, *, part: int = 0, task_id: str | None = None) -> None:
    """Send (after commit) the message that runs `part` of the job on its queue."""
    from training.tasks import run_training_job

    options: dict[str, Any] = {"queue": job.queue}
    if task_id:
        options["task_id"] = task_id
    enqueue_after_commit(run_training_job, job.pk, part, **options)


@transaction.atomic
def training_job_cancel(*, acting_user: User, job: TrainingJob) -> TrainingJob:
    """Cancel a job: a queued one at once (its message will find it cancelled), a running
    one at its next check between trials (its worker then marks it cancelled)."""
    locked = job_lock(TrainingJob, job.pk)
    assert locked is not None
    if locked.is_terminal:
        raise JobError(
            409, "job_finished", f"The job is {locked.state} already.", {"state": locked.state}
        )
    if locked.state == JobState.QUEUED:
        return job_transition(
            locked, JobState.CANCELLED, actor=acting_user,
            message=f"cancelled by {acting_user.username} before it started",
        )
    if not locked.cancel_requested:
        locked.cancel_requested = True
        locked.save(update_fields=["cancel_requested"])
        job_log_append(locked, locked.pk, f"cancellation requested by {acting_user.username}")
        record_event(
            actor=acting_user,
            action="trainingjob.cancel_request",
            object_type="trainingjob",
            object_id=locked.pk,
            before={"state": locked.state, "cancel_requested": False},
            after={"state": locked.state, "cancel_requested": True},
        )
    return locked


@transaction.atomic
def training_job_retry(*, acting_user: User, job: TrainingJob) -> TrainingJob:
    """Submit a failed or cancelled job again, as a new job (attempt + 1) with the same
    inputs; the old one stays as it ended. A job is retried once: retry the newest."""
    locked = job_lock(TrainingJob, job.pk)
    assert locked is not None
    if locked.state not in (JobState.FAILED, JobState.CANCELLED):
        raise JobError(
            409, "job_not_retryable", f"Only failed or cancelled jobs are retried; this one "
            f"is {locked.state}.", {"state": locked.state},
        )
    newer = locked.retries.order_by("-pk").first()
    if newer is not None:
        raise JobError(
            409, "already_retried", f"Job {locked.pk} was retried as job {newer.pk}.",
            {"retry": newer.pk},
        )
    if locked.dataset_version_id is None:
        raise JobError(
            400, "dataset_version_not_found", "The job's dataset version no longer exists."
        )
    return training_job_submit(
        acting_user=acting_user,
        dataset_version_id=locked.dataset_version_id,
        recipe=locked.recipe,
        spec=locked.spec,
        registered_model_name=locked.registered_model_name,
        parallelism=locked.parallelism,
        retry_of=locked,
    )
