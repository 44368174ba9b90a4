"""The watchdog sweep in this process: what it does with a running job gone silent.
(tests/training/worker/ kills a real worker and lets the watchdog pick its job up.)"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from django_tenants.utils import schema_context

from tests.training.conftest import make_dataset_version, submit
from training.models import JobState, TrainingJob
from training.services.lease import JobLease
from training.services.watchdog import training_watchdog_sweep


@pytest.fixture()
def silent_job(committed_tenant, committed_db, sent_messages):
    """A job that started running and whose worker has been silent for five minutes."""
    version = make_dataset_version(committed_tenant, "maint")
    job = submit(committed_tenant, "maint", version)
    sent_messages.sent.clear()

    def make(**fields):
        values = {
            "state": JobState.RUNNING,
            "started_at": timezone.now() - timedelta(minutes=6),
            "heartbeat_at": timezone.now() - timedelta(minutes=5),
            "part_deliveries": {"0": 1},
            "deliveries": 1,
            **fields,
        }
        with schema_context(committed_tenant.schema_name):
            TrainingJob.objects.filter(pk=job.pk).update(**values)
        return job

    return committed_tenant, make


def _job(tenant, job_id):
    with schema_context(tenant.schema_name):
        return TrainingJob.objects.get(pk=job_id)


def test_a_silent_job_with_deliveries_left_is_queued_and_sent_again(silent_job, sent_messages):
    tenant, make = silent_job
    job = make()
    # when the watchdog sweeps with a two-minute bound
    outcome = training_watchdog_sweep(stale_after_seconds=120)
    # then the job is queued again and its message sent once more, to its own queue
    assert (tenant.schema_name, job.pk) in outcome.requeued
    job = _job(tenant, job.pk)
    assert job.state == JobState.QUEUED
    assert "worker lost" in job.log
    assert sent_messages.job_parts() == [(job.pk, 0)]
    assert sent_messages.sent[0][2]["queue"] == job.queue


def test_a_silent_job_out_of_deliveries_fails_with_worker_lost(silent_job, sent_messages):
    tenant, make = silent_job
    job = make(part_deliveries={"0": 3}, deliveries=3)
    outcome = training_watchdog_sweep(stale_after_seconds=120)
    assert (tenant.schema_name, job.pk) in outcome.failed
    job = _job(tenant, job.pk)
    assert (job.state, job.failure_code) == (JobState.FAILED, "worker_lost")
    assert job.failure_reason.startswith("worker lost")
    assert sent_messages.sent == []


def test_a_silent_job_being_cancelled_ends_cancelled(silent_job):
    tenant, make = silent_job
    job = make(cancel_requested=True)
    outcome = training_watchdog_sweep(stale_after_seconds=120)
    assert (tenant.schema_name, job.pk) in outcome.cancelled
    assert _job(tenant, job.pk).state == JobState.CANCELLED


def test_a_job_whose_lease_is_held_is_alive_and_left_alone(silent_job, sent_messages):
    tenant, make = silent_job
    job = make()
    # given a live process holding the job's lease (its heartbeat merely late)
    with JobLease(schema=tenant.schema_name, table="training_trainingjob", job_id=job.pk,
                  part=0) as lease:
        assert lease.acquired
        outcome = training_watchdog_sweep(stale_after_seconds=120)
    assert (tenant.schema_name, job.pk) in outcome.alive
    assert _job(tenant, job.pk).state == JobState.RUNNING
    assert sent_messages.sent == []


def test_a_job_with_a_recent_heartbeat_is_not_touched(silent_job):
    tenant, make = silent_job
    job = make(heartbeat_at=timezone.now())
    outcome = training_watchdog_sweep(stale_after_seconds=120)
    assert (tenant.schema_name, job.pk) not in outcome.requeued + outcome.alive
    assert _job(tenant, job.pk).state == JobState.RUNNING
