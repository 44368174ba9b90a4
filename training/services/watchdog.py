"""The watchdog: no job stays `running` after its worker is gone.

Every MLGOV_WATCHDOG_INTERVAL_SECONDS (Celery beat), for each tenant, running training
jobs whose heartbeat is older than MLGOV_JOB_STALE_SECONDS are looked at. A job whose
part leases are all free (training/services/lease.py: no live process works on it) is

- cancelled, if its cancellation was requested;
- failed with "worker lost", if a part it still needs was delivered the maximum number
  of times already;
- otherwise put back to `queued` and its unfinished parts sent again (the deliveries that
  follow count against the same maximum).

A job whose lease is still held is alive, only slow (a trial longer than the bound while
its heartbeat thread is starved); the task's time limit bounds it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django_tenants.utils import schema_context

from tenants.models import Tenant
from training.models import JobState, TrainingJob
from training.services.jobs import training_job_enqueue
from training.services.lease import lease_is_held
from training.services.results import parent_run_close
from training.services.state import job_lock, job_transition

logger = logging.getLogger(__name__)


@dataclass
class SweepOutcome:
    requeued: list[tuple[str, int]] = field(default_factory=list)
    failed: list[tuple[str, int]] = field(default_factory=list)
    cancelled: list[tuple[str, int]] = field(default_factory=list)
    alive: list[tuple[str, int]] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {name: [f"{s}:{i}" for s, i in getattr(self, name)]
                for name in ("requeued", "failed", "cancelled", "alive")}


def training_watchdog_sweep(*, stale_after_seconds: float | None = None) -> SweepOutcome:
    """Recover or fail the running jobs of every tenant whose worker went silent."""
    bound = stale_after_seconds if stale_after_seconds is not None else (
        settings.MLGOV_JOB_STALE_SECONDS
    )
    cutoff = timezone.now() - timedelta(seconds=bound)
    outcome = SweepOutcome()
    schemas = Tenant.objects.exclude(schema_name="public").values_list("schema_name", flat=True)
    for schema in list(schemas):
        with schema_context(schema):
            stale = TrainingJob.objects.filter(
                state=JobState.RUNNING, heartbeat_at__lt=cutoff
            ).values_list("pk", flat=True)
            for job_id in list(stale):
                try:
                    _recover(schema, job_id, cutoff, outcome)
                except Exception:  # one broken job must not stop the sweep of the others
                    logger.exception("Watchdog could not recover job %s of %s", job_id, schema)
    return outcome


def _unfinished_parts(job: TrainingJob) -> list[int]:
    return [part for part in range(job.parallelism) if part not in job.parts_finished]


@transaction.atomic
def _recover(schema: str, job_id: int, cutoff, outcome: SweepOutcome) -> None:
    # skip_locked: a job whose row is locked is being written by its worker right now.
    job = job_lock(TrainingJob, job_id, skip_locked=True)
    if job is None or job.state != JobState.RUNNING:
        return
    if job.heartbeat_at is not None and job.heartbeat_at >= cutoff:
        return
    parts = _unfinished_parts(job)
    table = TrainingJob._meta.db_table
    if any(lease_is_held(schema, table, job.pk, part) for part in parts):
        outcome.alive.append((schema, job.pk))
        return
    silent = int((timezone.now() - (job.heartbeat_at or job.created_at)).total_seconds())
    if job.cancel_requested:
        parent_run_close(job, JobState.CANCELLED)
        job_transition(
            job, JobState.CANCELLED,
            message=f"worker lost ({silent}s without heartbeat) while cancelling",
        )
        outcome.cancelled.append((schema, job.pk))
    else:
        maximum = settings.MLGOV_JOB_MAX_DELIVERIES
        spent = [p for p in parts if int(job.part_deliveries.get(str(p), 0)) >= maximum]
        if spent:
            parent_run_close(job, JobState.FAILED)
            job_transition(
                job, JobState.FAILED, failure_code="worker_lost",
                failure_reason=f"worker lost: no heartbeat for {silent}s after "
                f"{job.deliveries} deliveries",
            )
            outcome.failed.append((schema, job.pk))
        else:
            job_transition(
                job, JobState.QUEUED,
                message=f"worker lost ({silent}s without heartbeat): re-enqueued part(s) "
                f"{', '.join(map(str, parts))}",
            )
            for part in parts:
                training_job_enqueue(job, part=part)
            outcome.requeued.append((schema, job.pk))
