"""The job state machine, in one place: every change of a job's `state` goes through
`job_transition`, which refuses illegal moves, stamps times, writes the log line and the
audit event, and, when the job ends, books its CPU seconds in the usage ledger.

    queued  -> running | cancelled | failed
    running -> succeeded | failed | cancelled | queued (the watchdog re-enqueues it)
    succeeded, failed, cancelled: final

Progress, heartbeats and log lines are operational, not state: they are written with
single UPDATE statements (no row lock, not audited) so a busy job never waits on them.
"""

from __future__ import annotations

from typing import TypeVar

from django.db import connection, transaction
from django.utils import timezone

from mlgov.audit.recorder import record_event
from training.models import MAX_LOG_CHARS, TERMINAL_STATES, Job, JobState

J = TypeVar("J", bound=Job)

TRANSITIONS: dict[str, frozenset[str]] = {
    JobState.QUEUED: frozenset({JobState.RUNNING, JobState.CANCELLED, JobState.FAILED}),
    JobState.RUNNING: frozenset(
        {JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED, JobState.QUEUED}
    ),
    JobState.SUCCEEDED: frozenset(),
    JobState.FAILED: frozenset(),
    JobState.CANCELLED: frozenset(),
}


class IllegalTransition(Exception):
    """A move the state machine does not allow (a bug, or a race lost to another writer)."""

    code = "invalid_state"

    def __init__(self, job: Job, to: str):
        super().__init__(f"{job} cannot go from {job.state} to {to}.")
        self.from_state = job.state
        self.to_state = to


def _log_line(message: str) -> str:
    stamp = timezone.now().strftime("%Y-%m-%dT%H:%M:%S.%fZ")[:-4] + "Z"
    return f"{stamp} {message.rstrip()}\n"


def job_log_append(job: Job | type[Job], job_id: int, message: str) -> None:
    """Append a line to the job's log in one statement; the oldest text drops off past
    MAX_LOG_CHARS (the log is a bounded tail, never rewritten in the middle)."""
    model = job if isinstance(job, type) else type(job)
    table = connection.ops.quote_name(model._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET log = right(log || %s, %s) WHERE id = %s",
            [_log_line(message), MAX_LOG_CHARS, job_id],
        )


def _snapshot(job: Job) -> dict:
    return {
        "state": job.state,
        "failure_code": job.failure_code or None,
        "deliveries": job.deliveries,
    }


def job_transition(
    job: J,
    to: str,
    *,
    actor=None,
    message: str = "",
    failure_code: str = "",
    failure_reason: str = "",
) -> J:
    """Move `job` (locked by the caller, in its transaction) to `to`; audited.

    Entering `running` stamps the first start; a final state stamps the end, the wall
    time and books the job's CPU seconds in the ledger.
    """
    if not connection.in_atomic_block:
        raise RuntimeError("job_transition runs inside the transaction that locked the job")
    if to not in TRANSITIONS.get(job.state, frozenset()):
        raise IllegalTransition(job, to)
    before = _snapshot(job)
    now = timezone.now()
    job.state = to
    fields = {"state"}
    if to == JobState.RUNNING and job.started_at is None:
        job.started_at = now
        fields.add("started_at")
    if to == JobState.FAILED:
        job.failure_code = failure_code or "error"
        job.failure_reason = failure_reason or "The job failed."
        fields |= {"failure_code", "failure_reason"}
    if to in TERMINAL_STATES:
        job.finished_at = now
        job.wall_seconds = (now - (job.started_at or job.created_at)).total_seconds()
        fields |= {"finished_at", "wall_seconds", "cpu_seconds", "peak_memory_bytes"}
        if to == JobState.SUCCEEDED:
            job.progress_percent = 100
            job.progress_stage = "done"
            fields |= {"progress_percent", "progress_stage"}
    job.save(update_fields=sorted(fields))
    line = message or f"state: {before['state']} -> {to}"
    if to == JobState.FAILED:
        line += f" ({job.failure_code}: {job.failure_reason})"
    job_log_append(job, job.pk, line)
    if to in TERMINAL_STATES:
        from training.services.usage import job_usage_book

        job_usage_book(job)
        study = getattr(job, "study_name", "")
        if study:  # a distributed search's study is not kept once its job ended
            from training.services.search import study_delete

            transaction.on_commit(lambda: study_delete(study))
    kind = str(job._meta.model_name)
    record_event(
        actor=actor,
        action=f"{kind}.{to}",
        object_type=kind,
        object_id=job.pk,
        before=before,
        after={**_snapshot(job), "reason": job.failure_reason or None}
        if to == JobState.FAILED
        else _snapshot(job),
    )
    return job


def job_lock(model: type[J], job_id: int, *, skip_locked: bool = False) -> J | None:
    """The job row, locked until the caller's transaction ends (None if it is gone, or
    locked by someone else with `skip_locked`)."""
    if not connection.in_atomic_block:
        raise RuntimeError("job_lock runs inside a transaction")
    rows = model._default_manager.select_for_update(skip_locked=skip_locked)
    return rows.filter(pk=job_id).first()


@transaction.atomic
def job_fail(model: type[J], job_id: int, *, code: str, reason: str) -> J | None:
    """Fail the job unless it ended already (the system's own verdict, actor None)."""
    job = job_lock(model, job_id)
    if job is None or job.is_terminal:
        return job
    return job_transition(job, JobState.FAILED, failure_code=code, failure_reason=reason)
