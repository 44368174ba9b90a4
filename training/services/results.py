"""What a job writes into the registry: its experiment and parent run, one child run per
trial (params and metrics), and at the end the model version with its lineage.

Everything is written as the job's submitter (their permissions still apply; a job whose
submitter lost the right to write fails with that reason), through the registry's own
services, so audit events, object permissions and lineage are the registry's.
"""

from __future__ import annotations

import json
import math
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import skops.io
from django.db import transaction

from registry.models import Experiment, ModelVersion, RegisteredModel, Run
from registry.services.experiments import TrackingError, experiment_create
from registry.services.metrics import run_log_batch
from registry.services.models import ModelNameTaken, registered_model_create
from registry.services.run_artifacts import run_artifact_write
from registry.services.runs import lock_run, run_create, run_dataset_input_add, run_update
from registry.services.versions import model_version_register_from_run
from tenants.models import Tenant
from training.models import JobState, TrainingJob
from training.recipes.base import RecipeResult, TrialResult
from training.services.lease import JobLease
from training.services.state import job_lock, job_log_append, job_transition
from training.services.usage import artifact_usage_book, running_cpu_check

MODEL_FILE = "model/model.skops"
SEARCH_START_PERCENT = 5
SEARCH_END_PERCENT = 90


class JobCancelled(Exception):
    """The job's cancellation was requested; raised between trials to stop the search."""


def idempotency_key(job: TrainingJob) -> str:
    return f"training-job:{job.pk}"


# --- values the registry accepts --------------------------------------------------------


def _plain(value: Any) -> Any:
    """JSON-native values: numpy scalars and arrays unwrapped, non-finite floats None."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | np.ndarray):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def plain_json(value: Any) -> Any:
    return json.loads(json.dumps(_plain(value)))


def numeric_metrics(metrics: dict) -> dict[str, float]:
    """The scalar, finite metrics (a model version's metrics are numbers; the confusion
    matrix and other structures stay on the job)."""
    out = {}
    for key, value in metrics.items():
        if isinstance(value, np.generic):
            value = value.item()
        if isinstance(value, bool) or not isinstance(value, int | float):
            continue
        if math.isfinite(value):
            out[str(key)] = float(value)
    return out


def _points(metrics: dict) -> list[dict]:
    return [{"key": key, "value": value} for key, value in numeric_metrics(metrics).items()]


def _param_value(value: Any) -> str:
    if isinstance(value, np.generic):
        value = value.item()
    return value if isinstance(value, str) else json.dumps(value)


# --- experiment and parent run ----------------------------------------------------------


def _experiment_for(user, name: str) -> Experiment:
    existing = Experiment.objects.filter(name=name).first()
    if existing is not None:
        return existing
    try:
        return experiment_create(
            acting_user=user, name=name, description=f"Training jobs registering {name!r}."
        )
    except TrackingError as error:
        if error.code != "name_taken":
            raise
        return Experiment.objects.get(name=name)  # another job created it meanwhile


def runs_prepare(job: TrainingJob, *, fresh_parent: bool) -> TrainingJob:
    """The job's experiment (named after its registered model, reused) and parent run,
    which consumed the dataset version (lineage: dataset_version -input-> run).

    `fresh_parent`: a single-process job starts over on each delivery, so the parent run
    of a delivery that died is marked failed and a new one started; the parts of a
    distributed job share one parent run, as they share one study."""
    with transaction.atomic():
        locked = job_lock(TrainingJob, job.pk)
        assert locked is not None
        user = locked.created_by
        experiment = locked.experiment or _experiment_for(user, locked.registered_model_name)
        parent = locked.parent_run
        if parent is not None and fresh_parent:
            if parent.status == Run.Status.RUNNING:
                run_update(acting_user=None, run=parent, status=Run.Status.FAILED)
            parent = None
        if parent is None:
            spec = locked.spec or {}
            parent = run_create(
                acting_user=user,
                experiment=experiment,
                name=f"training-job-{locked.pk}",
                params={
                    "recipe": locked.recipe,
                    "dataset_version": str(locked.dataset_version_id),
                    "parallelism": str(locked.parallelism),
                    **{k: _param_value(spec[k]) for k in ("trials", "folds", "seed") if k in spec},
                },
                tags={
                    "mlgov.training_job": str(locked.pk),
                    "mlgov.recipe": locked.recipe,
                    "mlgov.delivery": str(locked.deliveries),
                },
            )
            assert locked.dataset_version_id is not None  # checked when the data was loaded
            run_dataset_input_add(
                acting_user=user,
                run=parent,
                dataset_version_id=locked.dataset_version_id,
                context="training",
            )
        locked.experiment = experiment
        locked.parent_run = parent
        locked.save(update_fields=["experiment", "parent_run"])
    return locked


def parent_run_close(job: TrainingJob, to: str) -> None:
    """A job that ends without a model closes its parent run as failed (or killed when
    cancelled); inside the caller's transaction."""
    parent = job.parent_run
    if parent is not None and parent.status == Run.Status.RUNNING:
        status = Run.Status.KILLED if to == JobState.CANCELLED else Run.Status.FAILED
        run_update(acting_user=None, run=parent, status=status)


# --- trials -------------------------------------------------------------------------------


class TrialLogger:
    """The recipe's on_trial callback: one finished child run per trial with its params and
    metrics, then heartbeat and progress, then the checks that may stop the job (raised
    from inside the search, which ends it): cancellation, the tenant's CPU allowance."""

    def __init__(self, *, job: TrainingJob, lease: JobLease, tenant: Tenant, total: int):
        self.job = job
        self.lease = lease
        self.tenant = tenant
        self.total = max(1, total)

    def __call__(self, trial: TrialResult) -> None:
        job = self.job
        user = job.created_by
        assert job.experiment is not None  # runs_prepare ran before the search
        with transaction.atomic():
            child = run_create(
                acting_user=user,
                experiment=job.experiment,
                parent_run=job.parent_run,
                name=f"trial-{trial.number}",
                params={str(k): _param_value(v) for k, v in trial.params.items()},
                tags={"mlgov.training_job": str(job.pk), "mlgov.trial": str(trial.number)},
            )
            points = _points(trial.metrics)
            if points:
                run_log_batch(acting_user=user, run=child, metrics=points)
            run_update(acting_user=user, run=child, status=Run.Status.FINISHED)
        done = min(1.0, (trial.number + 1) / self.total)
        span = SEARCH_END_PERCENT - SEARCH_START_PERCENT
        self.lease.heartbeat(
            percent=SEARCH_START_PERCENT + int(span * done),
            stage=f"trial {trial.number + 1} of {self.total}",
            trials=1,
        )
        checkpoint(self.lease, self.tenant)


def checkpoint(lease: JobLease, tenant: Tenant) -> None:
    """Stop the job if it was cancelled or the tenant's CPU allowance is spent."""
    if lease.cancel_requested.is_set():
        raise JobCancelled()
    running_cpu_check(tenant)


# --- the end: one model version ------------------------------------------------------------


def _registered_model_for(user, name: str) -> RegisteredModel:
    existing = RegisteredModel.objects.select_for_update().filter(name=name).first()
    if existing is not None:
        return existing
    try:
        return registered_model_create(
            acting_user=user, name=name, description="Registered by training jobs."
        )
    except ModelNameTaken:
        return RegisteredModel.objects.select_for_update().get(name=name)


def _register(job: TrainingJob, result: RecipeResult, lease: JobLease) -> ModelVersion:
    """Write the model file to the parent run, register it (encrypted, inspected, signed,
    lineage run -produced-> version) under the job's idempotency key, close the parent run
    and mark the job succeeded. Runs inside job_part_complete's transaction."""
    user = job.created_by
    # Row locks first, audit events after: the chain lock is then taken last.
    model = _registered_model_for(user, job.registered_model_name)
    assert job.parent_run is not None  # runs_prepare ran before the search
    parent = lock_run(job.parent_run)
    with tempfile.TemporaryDirectory(prefix="mlgov-model-") as folder:
        path = Path(folder) / "model.skops"
        skops.io.dump(result.model, path)
        with open(path, "rb") as handle:
            entry = run_artifact_write(
                acting_user=user, run=parent, name=MODEL_FILE, source=handle, overwrite=True
            )
    metrics = numeric_metrics(result.metrics)
    registration = model_version_register_from_run(
        acting_user=user,
        model=model,
        run=parent,
        artifact_path=MODEL_FILE,
        model_format="skops",
        signature=plain_json(result.signature),
        metrics=metrics,
        description=f"Trained by training job {job.pk} ({job.recipe}).",
        tags={"mlgov.training_job": str(job.pk), "mlgov.recipe": job.recipe},
        idempotency_key=idempotency_key(job),
    )
    version = registration.version
    if registration.created:
        # Not part of the signed payload: the registration service takes no profile.
        ModelVersion.objects.filter(pk=version.pk).update(
            reference_profile=plain_json(result.reference_profile)
        )
        artifact_usage_book(job, entry.artifact.size_bytes, "model")
    best = {f"best.{k}": _param_value(v) for k, v in result.best_params.items()}
    run_log_batch(acting_user=user, run=parent, metrics=_points(result.metrics), params=best)
    run_update(acting_user=user, run=parent, status=Run.Status.FINISHED)
    job.model_version = version
    job.metrics = plain_json(result.metrics)
    job.best_params = plain_json(result.best_params)
    job.cpu_seconds += lease.meter.take()
    job.peak_memory_bytes = max(job.peak_memory_bytes, lease.meter.peak_memory_bytes())
    job.save(update_fields=["model_version", "metrics", "best_params", "parts_finished"])
    if not version.verified:
        # Registered, but mlgov will never load it: say why where the user looks first.
        job_log_append(job, job.pk, f"the model file failed the server's checks: "
                       f"{version.verification_detail[:500]}")
    job_transition(
        job, JobState.SUCCEEDED,
        message=f"registered {model.name} v{version.version} (model version {version.pk}"
        f"{'' if version.verified else ', unverified'})",
    )
    return version


def job_part_complete(
    job_id: int,
    part: int,
    result: RecipeResult,
    lease: JobLease,
    *,
    refit: Callable[[RecipeResult], RecipeResult] | None = None,
) -> str:
    """Record that `part` finished its search. The part that finishes last (all parts
    together: exactly one, under the job's row lock) registers the model; `refit` gives it
    the model of the study's final best trial when another part found a better one.
    Returns "succeeded", "part_done" or "skipped" (the job ended meanwhile)."""
    with transaction.atomic():
        job = job_lock(TrainingJob, job_id)
        if job is None or job.state != JobState.RUNNING:
            return "skipped"
        finished = sorted(set(job.parts_finished) | {part})
        if len(finished) < job.parallelism:
            job.parts_finished = finished
            job.cpu_seconds += lease.meter.take()
            job.peak_memory_bytes = max(job.peak_memory_bytes, lease.meter.peak_memory_bytes())
            job.save(update_fields=["parts_finished", "cpu_seconds", "peak_memory_bytes"])
            job_log_append(job, job.pk, f"part {part} finished ({len(finished)} of "
                           f"{job.parallelism})")
            return "part_done"
        if lease.cancel_requested.is_set() or job.cancel_requested:
            raise JobCancelled()
        job.parts_finished = finished
        if refit is not None:
            result = refit(result)
        _register(job, result, lease)
    return "succeeded"
