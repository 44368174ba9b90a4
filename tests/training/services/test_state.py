"""The job state machine: legal moves only, each stamped, logged and audited; the log is a
bounded tail."""

from __future__ import annotations

import itertools

import pytest
from django.db import transaction
from django_tenants.utils import schema_context

from mlgov.audit.models import AuditEvent
from training.models import MAX_LOG_CHARS, JobState, TrainingJob
from training.services.state import (
    TRANSITIONS,
    IllegalTransition,
    job_log_append,
    job_transition,
)

LEGAL = {
    (JobState.QUEUED, JobState.RUNNING),
    (JobState.QUEUED, JobState.CANCELLED),
    (JobState.QUEUED, JobState.FAILED),
    (JobState.RUNNING, JobState.SUCCEEDED),
    (JobState.RUNNING, JobState.FAILED),
    (JobState.RUNNING, JobState.CANCELLED),
    (JobState.RUNNING, JobState.QUEUED),
}


def test_the_table_is_exactly_the_documented_machine():
    table = {(a, b) for a, targets in TRANSITIONS.items() for b in targets}
    assert table == LEGAL


def _job(state: str) -> TrainingJob:
    return TrainingJob.objects.create(
        state=state, recipe="classification", registered_model_name="m", spec={}
    )


@pytest.mark.parametrize(("source", "target"), list(itertools.product(JobState.values, repeat=2)))
def test_every_move_is_allowed_or_refused_as_the_table_says(alpha, source, target):
    with schema_context(alpha.schema_name), transaction.atomic():
        job = _job(source)
        if (source, target) in LEGAL:
            job_transition(job, target, failure_code="x", failure_reason="because")
            job.refresh_from_db()
            assert job.state == target
            assert f"{source} -> {target}" in job.log
            event = AuditEvent.objects.filter(object_type="trainingjob").latest("sequence")
            assert event.action == f"trainingjob.{target}"
            assert event.before["state"] == source
            assert event.after["state"] == target
        else:
            with pytest.raises(IllegalTransition):
                job_transition(job, target)
            job.refresh_from_db()
            assert job.state == source


def test_final_states_stamp_end_and_wall_time_and_running_the_first_start(alpha):
    with schema_context(alpha.schema_name), transaction.atomic():
        job = _job(JobState.QUEUED)
        job_transition(job, JobState.RUNNING)
        started = job.started_at
        job_transition(job, JobState.QUEUED)
        job_transition(job, JobState.RUNNING)
        assert job.started_at == started  # the first start stays
        job_transition(job, JobState.FAILED, failure_code="worker_lost", failure_reason="gone")
        job.refresh_from_db()
        assert job.finished_at >= started
        assert job.wall_seconds >= 0
        assert (job.failure_code, job.failure_reason) == ("worker_lost", "gone")


def test_the_log_keeps_only_its_newest_characters(alpha):
    with schema_context(alpha.schema_name):
        job = _job(JobState.QUEUED)
        for index in range(700):
            job_log_append(job, job.pk, f"line {index:04d} " + "x" * 100)
        job.refresh_from_db()
        assert len(job.log) == MAX_LOG_CHARS
        assert job.log.rstrip().endswith("line 0699 " + "x" * 100)
        assert "line 0000" not in job.log
