"""Running a training job (or one part of a distributed one) on a worker.

`training_job_execute` is what the Celery task calls for every delivery of a message:

1. take the part's lease (training/services/lease.py): a second delivery of a part that is
   still running elsewhere is dropped;
2. count the delivery in the row. A part delivered MLGOV_JOB_MAX_DELIVERIES times without
   finishing killed its worker each time: the job fails ("worker died N times") instead of
   running again, which is what stops a job that kills its worker from looping. A job that
   is not queued or running (a redelivered message of a finished job) is left alone;
3. load the dataset version (decrypted to a private temporary file, deleted after
   reading), prepare the experiment and parent run, and run the recipe with a callback
   that logs each trial as a child run, heartbeats, and stops the job when it is
   cancelled or the tenant's CPU allowance is spent;
4. register the best model as one new model version (training/services/results.py).

Any failure marks the job failed with its reason; nothing is left running.

Distributed search (`parallelism` N > 1): part 0 creates the study in the shared optuna
storage (training/services/search.py) and sends parts 1..N-1, which may run on any
worker; every part draws trials from the study until the budget is spent. The part that
finishes last, under the job's row lock, registers the study's best model, once.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from mlgov.audit.recorder import record_event
from registry.models import DatasetVersion
from tenants.quotas import QuotaExceeded
from training.models import JobState, TrainingJob
from training.recipes import RECIPES, run_recipe
from training.recipes.base import RecipeResult
from training.services.data import dataset_frame
from training.services.jobs import training_job_enqueue
from training.services.lease import JobLease
from training.services.results import (
    JobCancelled,
    TrialLogger,
    checkpoint,
    job_part_complete,
    parent_run_close,
    runs_prepare,
)
from training.services.search import (
    search_storage,
    study_best_params,
    study_name_for,
)
from training.services.state import job_lock, job_log_append, job_transition
from training.services.usage import current_tenant
from training.spec import SpecError, parse_spec

logger = logging.getLogger(__name__)

MAX_REASON_CHARS = 2000


@dataclass(frozen=True)
class Delivery:
    """One delivery of a job's message, as the Celery task saw it."""

    task_id: str = ""
    hostname: str = ""
    redelivered: bool = False
    part: int = 0


class JobInputMissing(Exception):
    """The job's dataset version was deleted after it was submitted."""


def _table() -> str:
    return TrainingJob._meta.db_table


def training_job_execute(*, job_id: int, delivery: Delivery) -> str:
    """Run one delivery of a job part; returns what happened ("succeeded", "part_done",
    "failed", "cancelled", or "skipped: <why>")."""
    schema = connection.schema_name
    with JobLease(schema=schema, table=_table(), job_id=job_id, part=delivery.part) as lease:
        if not lease.acquired:
            logger.warning(
                "Job %s part %s is running elsewhere; delivery %s dropped",
                job_id, delivery.part, delivery.task_id,
            )
            return "skipped: the part is running elsewhere"
        job = _begin(job_id, delivery)
        if job is None:
            return "skipped: nothing to run"
        return _run_guarded(job, delivery, lease)


@transaction.atomic
def _begin(job_id: int, delivery: Delivery) -> TrainingJob | None:
    job = job_lock(TrainingJob, job_id)
    if job is None:
        logger.warning("Training job %s does not exist; delivery %s dropped", job_id, delivery)
        return None
    part, key = delivery.part, str(delivery.part)
    if job.is_terminal or part in job.parts_finished or part >= job.parallelism:
        job_log_append(job, job.pk, f"delivery of part {part} ignored: the job is {job.state}"
                       + (" and the part finished" if part in job.parts_finished else ""))
        return None
    if job.cancel_requested:
        job_transition(job, JobState.CANCELLED, message="cancelled before it ran again")
        return None
    delivered = int(job.part_deliveries.get(key, 0))
    if delivered >= settings.MLGOV_JOB_MAX_DELIVERIES:
        which = f" (part {part})" if job.parallelism > 1 else ""
        parent_run_close(job, JobState.FAILED)
        job_transition(
            job, JobState.FAILED, failure_code="worker_died",
            failure_reason=f"worker died {delivered} times{which}",
        )
        return None
    job.part_deliveries = {**job.part_deliveries, key: delivered + 1}
    job.deliveries += 1
    job.celery_task_id = delivery.task_id or job.celery_task_id
    job.worker_hostname = delivery.hostname[:255]
    job.worker_pid = os.getpid()
    job.heartbeat_at = timezone.now()
    fields = ["part_deliveries", "deliveries", "celery_task_id", "worker_hostname",
              "worker_pid", "heartbeat_at"]
    if job.parallelism == 1:
        # A single-process job starts over on each delivery.
        job.progress_percent, job.progress_stage, job.trials_logged = 0, "starting", 0
        fields += ["progress_percent", "progress_stage", "trials_logged"]
    job.save(update_fields=fields)
    where = f"on {delivery.hostname or 'a worker'} (pid {job.worker_pid})"
    line = f"delivery {delivered + 1} of part {part} {where}" + (
        ", redelivered" if delivered else ""
    )
    if job.state == JobState.QUEUED:
        job_transition(job, JobState.RUNNING, message=line)
    else:
        job_log_append(job, job.pk, line)
        # Not a state change, but worth the trail: a part started (again) on a worker.
        record_event(
            actor=None, action="trainingjob.part_started", object_type="trainingjob",
            object_id=job.pk, after={"part": part, "delivery": delivered + 1},
        )
    return job


def _run_guarded(job: TrainingJob, delivery: Delivery, lease: JobLease) -> str:
    try:
        return _run(job, delivery, lease)
    except JobCancelled:
        return _end(job.pk, lease, JobState.CANCELLED, message="cancelled while running")
    except QuotaExceeded as error:
        return _end(job.pk, lease, JobState.FAILED, code=error.code, reason=error.message)
    except SoftTimeLimitExceeded:
        return _end(job.pk, lease, JobState.FAILED, code="time_limit",
                    reason="the job ran past its time limit")
    except JobInputMissing as error:
        return _end(job.pk, lease, JobState.FAILED, code="dataset_version_missing",
                    reason=str(error))
    except SpecError as error:
        return _end(job.pk, lease, JobState.FAILED, code=error.code, reason=error.message)
    except Exception as error:
        logger.exception("Training job %s failed", job.pk)
        reason = f"{type(error).__name__}: {error}"[:MAX_REASON_CHARS]
        code = getattr(error, "code", None)
        return _end(job.pk, lease, JobState.FAILED,
                    code=code if isinstance(code, str) else "error", reason=reason)


def _end(job_id: int, lease: JobLease, to: str, *, message: str = "", code: str = "",
         reason: str = "") -> str:
    """Move the job to its final state (unless it got there already)."""
    with transaction.atomic():
        job = job_lock(TrainingJob, job_id)
        if job is None or job.is_terminal:
            return "skipped: the job ended meanwhile"
        job.cpu_seconds += lease.meter.take()
        job.peak_memory_bytes = max(job.peak_memory_bytes, lease.meter.peak_memory_bytes())
        parent_run_close(job, to)
        job_transition(job, to, message=message, failure_code=code, failure_reason=reason)
    return to


def _load(job: TrainingJob):
    version = (
        DatasetVersion.objects.select_related("artifact").filter(pk=job.dataset_version_id).first()
        if job.dataset_version_id
        else None
    )
    if version is None:
        raise JobInputMissing("The job's dataset version was deleted.")
    frame = dataset_frame(version)
    spec = parse_spec(
        job.spec, columns=list(frame.columns), needs_target=RECIPES[job.recipe].NEEDS_TARGET
    )
    return frame, spec


@transaction.atomic
def _fan_out(job: TrainingJob) -> TrainingJob:
    """Part 0 of a distributed job names its study and sends the other parts (once)."""
    locked = job_lock(TrainingJob, job.pk)
    assert locked is not None
    if not locked.study_name:
        locked.study_name = study_name_for(connection.schema_name, locked.pk)
    if not locked.parts_enqueued:
        for part in range(1, locked.parallelism):
            training_job_enqueue(locked, part=part)
        locked.parts_enqueued = True
        job_log_append(locked, locked.pk, f"sent parts 1..{locked.parallelism - 1}")
    locked.save(update_fields=["study_name", "parts_enqueued"])
    return locked


def _run(job: TrainingJob, delivery: Delivery, lease: JobLease) -> str:
    tenant = current_tenant()
    lease.heartbeat(percent=1, stage="loading the dataset")
    frame, spec = _load(job)
    checkpoint(lease, tenant)
    distributed = job.parallelism > 1
    storage = search_storage() if distributed else None
    job = runs_prepare(job, fresh_parent=not distributed)
    if distributed and delivery.part == 0:
        fanned = _fan_out(job)
        job.study_name, job.parts_enqueued = fanned.study_name, fanned.parts_enqueued
    elif distributed:
        job.study_name = TrainingJob.objects.values_list("study_name", flat=True).get(pk=job.pk)
    lease.heartbeat(percent=3, stage="searching")
    job_log_append(job, job.pk, f"part {delivery.part}: {len(frame)} rows loaded, searching")
    on_trial = TrialLogger(job=job, lease=lease, tenant=tenant, total=spec.trials)
    result = run_recipe(
        job.recipe, frame, spec, on_trial=on_trial, storage=storage,
        study_name=job.study_name or None,
    )
    lease.heartbeat(percent=91, stage="registering the model")
    job_log_append(job, job.pk, f"part {delivery.part}: search done, best {result.best_params}")
    checkpoint(lease, tenant)

    def refit(own: RecipeResult) -> RecipeResult:
        # The study's best may be another part's trial: fit that one (no trials are run,
        # the budget is spent).
        assert storage is not None
        best = study_best_params(storage, job.study_name)
        if best is None or best == own.best_params:
            return own
        return run_recipe(job.recipe, frame, spec, storage=storage, study_name=job.study_name)

    return job_part_complete(
        job.pk, delivery.part, result, lease, refit=refit if distributed else None
    )
