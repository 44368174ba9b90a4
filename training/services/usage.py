"""What jobs use, against the tenant's plan (tenants/quotas.py), and the ledger lines they
book: each job's CPU seconds once it ends, the bytes of each artifact a job creates.

CPU used this month = the ledger's CPU seconds of the month + the CPU seconds of the jobs
still queued or running (booked only when they end), so a submission and a running job
both see every other job's consumption so far.
"""

from __future__ import annotations

from django.db import connection
from django.db.models import Sum

from tenants import quotas
from tenants.models import Tenant, UsageRecord
from training.models import ACTIVE_STATES, EvaluationJob, Job, TrainingJob


def current_tenant() -> Tenant:
    """The tenant whose schema the connection is on, with its plan."""
    schema = connection.schema_name
    if not schema or schema == "public":
        raise RuntimeError("training services run inside a tenant schema")
    return Tenant.objects.select_related("plan").get(schema_name=schema)


def _in_flight_cpu_seconds() -> float:
    total = 0.0
    for model in (TrainingJob, EvaluationJob):
        value = model.objects.filter(state__in=ACTIVE_STATES).aggregate(s=Sum("cpu_seconds"))["s"]
        total += float(value or 0)
    return total


def cpu_seconds_used(tenant: Tenant) -> float:
    """CPU seconds of this month: booked in the ledger plus those of unfinished jobs."""
    return quotas.cpu_seconds_recorded(tenant) + _in_flight_cpu_seconds()


def active_job_count() -> int:
    """Jobs of the current tenant queued or running (the concurrent-jobs quota)."""
    return sum(
        model.objects.filter(state__in=ACTIVE_STATES).count()
        for model in (TrainingJob, EvaluationJob)
    )


def submission_quotas_check(tenant: Tenant) -> None:
    """Raise QuotaExceeded (403) if one more job would pass a quota of the plan: concurrent
    jobs, CPU seconds this month, artifact storage, model versions (a training job adds
    a version and its file)."""
    from registry.models import ModelVersion

    quotas.quota_check(tenant, quotas.CONCURRENT_JOBS, used=active_job_count())
    quotas.quota_check(tenant, quotas.CPU_SECONDS_PER_MONTH, used=cpu_seconds_used(tenant))
    quotas.quota_check(
        tenant, quotas.ARTIFACT_STORAGE_BYTES, used=quotas.storage_bytes_used(tenant)
    )
    quotas.quota_check(tenant, quotas.MODEL_VERSIONS, used=ModelVersion.objects.count())


def running_cpu_check(tenant: Tenant) -> None:
    """Raise QuotaExceeded once this month's CPU seconds passed the plan's allowance
    (checked by a running job between trials; the job then fails with that reason)."""
    quotas.quota_check(
        tenant, quotas.CPU_SECONDS_PER_MONTH, used=cpu_seconds_used(tenant), needed=0
    )


def _source(job: Job) -> str:
    return f"{connection.schema_name}:{job._meta.model_name}:{job.pk}"


def job_usage_book(job: Job) -> None:
    """Book a job's CPU seconds in the ledger (called once, as the job ends)."""
    if job.cpu_seconds > 0:
        quotas.usage_record(
            tenant=current_tenant(),
            kind=UsageRecord.Kind.CPU_SECONDS,
            quantity=job.cpu_seconds,
            source=_source(job),
        )


def artifact_usage_book(job: Job, size_bytes: int, what: str) -> None:
    """Book the bytes of an artifact the job created (the model file)."""
    quotas.usage_record(
        tenant=current_tenant(),
        kind=UsageRecord.Kind.STORAGE_BYTES,
        quantity=size_bytes,
        source=f"{_source(job)}:{what}",
    )
