"""Training jobs through the real broker and a real worker process (one task per child).

Jobs are submitted by the service in this process (committed data) and sent to the module
worker's own queue. Small data, few trials: each job trains for a second or two; jobs that
must still be training when something happens to them get a large trial budget bounded
by a few seconds (`timeout_seconds`).
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection
from django_tenants.utils import schema_context

from tests.conftest import user_in
from tests.training.conftest import make_dataset_version, submit
from tests.training.worker.conftest import MAX_DELIVERIES, training_worker
from tests.worker_process import isolated_queue
from training.models import JobState, TrainingJob

pytestmark = pytest.mark.worker

# Still searching when the test acts on it; done a few seconds after it is left alone.
LONG_SPEC = {"target": "label", "trials": 500, "timeout_seconds": 2, "folds": 2, "seed": 5}


def job_of(tenant, job_id: int) -> TrainingJob:
    with schema_context(tenant.schema_name):
        return TrainingJob.objects.get(pk=job_id)


def wait_for_job(
    worker, tenant, job_id: int, predicate, *, timeout: float = 30, what: str = ""
) -> TrainingJob:
    def check():
        job = job_of(tenant, job_id)
        return job if predicate(job) else None

    return worker.wait_until(check, timeout=timeout, what=what or f"job {job_id}")


def wait_until_finished(worker, tenant, job_id: int, timeout: float = 30) -> TrainingJob:
    return wait_for_job(
        worker, tenant, job_id, lambda job: job.is_terminal, timeout=timeout,
        what=f"job {job_id} to finish",
    )


def model_versions(tenant) -> list:
    from registry.models import ModelVersion

    with schema_context(tenant.schema_name):
        return list(ModelVersion.objects.select_related("artifact").order_by("pk"))


@pytest.fixture()
def world(committed_tenant, committed_db, training_queue):
    return committed_tenant, make_dataset_version(committed_tenant, "maint")


def test_a_job_runs_end_to_end_and_registers_one_signed_version(worker, world):
    from registry.models import LineageEdge, Run
    from registry.services.signing import model_version_signature_check

    tenant, version = world
    job = submit(tenant, "maint", version)
    job = wait_until_finished(worker, tenant, job.pk)
    assert job.state == JobState.SUCCEEDED, job.log
    # it ran in a child of the worker, once
    assert job.worker_hostname == worker.hostname
    assert job.worker_pid not in (
        os.getpid(), worker.ready_info["pid"],
    )
    assert job.deliveries == 1
    assert job.cpu_seconds > 0
    assert job.wall_seconds > 0
    (model_version,) = model_versions(tenant)
    assert model_version.pk == job.model_version_id
    assert model_version.verified
    with schema_context(tenant.schema_name):
        model_version_signature_check(model_version)
        children = Run.objects.filter(parent_run_id=job.parent_run_id)
        assert children.count() == 2
        assert LineageEdge.objects.filter(
            source_type="dataset_version", source_id=str(version.pk), relation="input",
            target_type="run", target_id=str(job.parent_run_id),
        ).exists()
        assert LineageEdge.objects.filter(
            source_type="run", source_id=str(job.parent_run_id), relation="produced",
            target_type="model_version", target_id=str(model_version.pk),
        ).exists()


def test_a_worker_killed_mid_training_delivers_the_job_again_which_registers_once(worker, world):
    from registry.models import Run

    tenant, version = world
    job = submit(tenant, "maint", version, spec=LONG_SPEC)
    # when the worker's child is killed while the job is between trials
    running = wait_for_job(worker, tenant, job.pk, lambda j: j.trials_logged >= 1,
                           what="the first trial")
    first_run = running.parent_run_id
    os.kill(running.worker_pid, signal.SIGKILL)
    # then the message comes back (late ack, reject on worker lost) and the job finishes
    job = wait_until_finished(worker, tenant, job.pk)
    assert job.state == JobState.SUCCEEDED, job.log
    assert job.deliveries == 2
    assert job.part_deliveries == {"0": 2}
    assert job.worker_pid != running.worker_pid
    assert "redelivered" in job.log
    # with exactly one model version, from the second delivery's parent run
    (model_version,) = model_versions(tenant)
    assert model_version.run_id == job.parent_run_id != first_run
    with schema_context(tenant.schema_name):
        assert Run.objects.get(pk=first_run).status == Run.Status.FAILED


def test_a_job_that_kills_its_worker_every_time_fails_after_bounded_deliveries(worker, world):
    tenant, version = world
    job = submit(tenant, "maint", version, spec=LONG_SPEC)
    killed: set[int] = set()

    # whenever the job reports progress from a child not killed yet, that child dies
    def kill_or_finished():
        current = job_of(tenant, job.pk)
        if current.is_terminal:
            return current
        pid = current.worker_pid
        if current.state == JobState.RUNNING and pid and pid not in killed and (
            current.progress_percent >= 1
        ):
            killed.add(pid)
            os.kill(pid, signal.SIGKILL)
        return None

    job = worker.wait_until(kill_or_finished, timeout=40, what="the job to give up")
    # then it failed after the maximum number of deliveries, with the reason, and stopped
    maximum = MAX_DELIVERIES  # the workers' setting
    assert (job.state, job.failure_code) == (JobState.FAILED, "worker_died"), job.log
    assert job.failure_reason == f"worker died {maximum} times"
    assert job.deliveries == maximum == len(killed)
    time.sleep(1.0)
    assert job_of(tenant, job.pk).deliveries == maximum  # no further delivery ran
    assert model_versions(tenant) == []


def test_cancelling_a_running_job_stops_it_and_registers_nothing(worker, world):
    from registry.models import Run
    from training.services.jobs import training_job_cancel

    tenant, version = world
    job = submit(tenant, "maint", version, spec={**LONG_SPEC, "timeout_seconds": 60})
    wait_for_job(worker, tenant, job.pk, lambda j: j.trials_logged >= 1, what="a trial")
    with schema_context(tenant.schema_name):
        training_job_cancel(acting_user=user_in(tenant, "maint"), job=job)
    job = wait_until_finished(worker, tenant, job.pk, timeout=15)
    assert job.state == JobState.CANCELLED, job.log
    assert job.trials_logged < 500
    assert job.model_version_id is None
    assert model_versions(tenant) == []
    with schema_context(tenant.schema_name):
        assert Run.objects.get(pk=job.parent_run_id).status == Run.Status.KILLED


def test_a_distributed_search_shares_trials_across_parts_and_registers_once(worker, world):
    from registry.models import Run

    tenant, version = world
    spec = {"target": "label", "trials": 6, "folds": 2, "seed": 4}
    job = submit(tenant, "maint", version, spec=spec, parallelism=2)
    job = wait_until_finished(worker, tenant, job.pk, timeout=40)
    assert job.state == JobState.SUCCEEDED, job.log
    assert job.parts_finished == [0, 1]
    assert job.part_deliveries == {"0": 1, "1": 1}
    (model_version,) = model_versions(tenant)
    with schema_context(tenant.schema_name):
        trials = Run.objects.filter(parent_run_id=job.parent_run_id)
        names = sorted(trials.values_list("name", flat=True))
    # every trial of the shared study was logged once (the budget may be overrun by at most
    # one trial per part that started while the last allowed one was running)
    assert 6 <= len(names) <= 7
    assert len(set(names)) == len(names)
    assert model_version.run_id == job.parent_run_id


def _schema_rows(schema: str, sql: str, params=()) -> list:
    quote = connection.ops.quote_name
    with connection.cursor() as cursor:
        cursor.execute(sql.format(schema=quote(schema)), params)
        return cursor.fetchall()


def test_two_tenants_jobs_interleaved_on_one_worker_write_only_their_own(
    worker, committed_tenant, committed_db, training_queue
):
    from tenants.models import UsageRecord
    from tenants.services import tenant_create

    tenant_a = committed_tenant
    tenant_b = tenant_create(
        acting_user=None, slug=f"{tenant_a.slug}-b", name="B", owner_username="maint",
        owner_email="m@b.test",
    ).tenant
    connection.set_schema_to_public()
    # maint maintains A and owns B
    versions = {t.schema_name: make_dataset_version(t, "maint") for t in (tenant_a, tenant_b)}
    spec = {"target": "label", "trials": 1, "folds": 2}
    jobs: dict[str, list[int]] = {tenant_a.schema_name: [], tenant_b.schema_name: []}
    for _ in range(2):  # A, B, A, B
        for tenant in (tenant_a, tenant_b):
            job = submit(tenant, "maint", versions[tenant.schema_name], spec=spec)
            jobs[tenant.schema_name].append(job.pk)
    for tenant in (tenant_a, tenant_b):
        for job_id in jobs[tenant.schema_name]:
            assert wait_until_finished(worker, tenant, job_id).state == JobState.SUCCEEDED

    root = Path(settings.ARTIFACT_ROOT)
    for tenant, other in ((tenant_a, tenant_b), (tenant_b, tenant_a)):
        own, foreign = tenant.schema_name, other.schema_name
        # each schema holds exactly its own jobs' versions and runs (read schema-qualified)
        keys = sorted(row[0] for row in _schema_rows(
            own, "SELECT idempotency_key FROM {schema}.registry_modelversion"))
        assert keys == sorted(f"training-job:{pk}" for pk in jobs[own])
        tagged = {row[0] for row in _schema_rows(
            own, "SELECT value FROM {schema}.registry_runtag WHERE key = 'mlgov.training_job'")}
        assert tagged == {str(pk) for pk in jobs[own]}
        # each model file lies in its own tenant's folder, none in the other's
        for (artifact_id,) in _schema_rows(
            own, "SELECT artifact_id FROM {schema}.registry_modelversion"
        ):
            name = artifact_id.hex
            assert (root / own / name[:2] / name).is_file()
            assert not (root / foreign / name[:2] / name).exists()
        # and each job's usage is booked to its own tenant
        sources = UsageRecord.objects.filter(tenant=tenant, kind="cpu_seconds").values_list(
            "source", flat=True)
        assert sorted(sources) == sorted(f"{own}:trainingjob:{pk}" for pk in jobs[own])


def test_the_watchdog_picks_up_a_job_whose_worker_vanished(
    worker, doomed_worker, world, tmp_path, settings
):
    from training.tasks import training_watchdog

    tenant, version = world
    # given a worker (of its own, on its own queue) running a job
    doomed = doomed_worker
    doomed.wait_ready()
    queue = settings.MLGOV_TRAINING_QUEUE = doomed.queues[0]
    job = submit(tenant, "maint", version, spec=LONG_SPEC)
    wait_for_job(doomed, tenant, job.pk, lambda j: j.trials_logged >= 1, what="a trial")
    # when that whole worker vanishes (SIGKILL to it and its child: nothing requeues)
    doomed.stop(graceful=False)
    vanished = time.monotonic()
    assert job_of(tenant, job.pk).state == JobState.RUNNING
    # and a new worker serves its queue and beat's watchdog task runs there once the job
    # has been silent for longer than the bound (3 s in the workers' environment)
    sweeps = isolated_queue("default")
    rescuer = training_worker(tmp_path / "rescuer", queues=[queue, sweeps], concurrency=1)
    rescuer.start(wait_ready=False)
    try:
        time.sleep(max(0.0, 3.5 - (time.monotonic() - vanished)))
        training_watchdog.apply_async(queue=sweeps)
        rescuer.wait_ready()
        # then the job is sent again and finishes there, with one model version
        job = wait_until_finished(rescuer, tenant, job.pk, timeout=40)
    finally:
        rescuer.stop(graceful=False)
    assert job.state == JobState.SUCCEEDED, job.log
    assert "worker lost" in job.log
    assert job.deliveries == 2
    assert job.worker_hostname == rescuer.hostname
    assert len(model_versions(tenant)) == 1
