"""A worker refuses to start on a configuration that would run a task twice or keep a
tenant's data in memory; the training command line recycles its child after each task."""

from __future__ import annotations

import uuid

import pytest
from django_tenants.utils import schema_context

from tenants.tasks import tenant_worker_selftest
from tests.mlgov.celery.audit_probe import selftest_events
from tests.worker_process import CeleryWorker, isolated_queue

pytestmark = pytest.mark.worker

# The checks run before the worker connects; should one fail to stop it, a broker
# nobody listens on keeps it from ever consuming a message.
UNREACHABLE_REDIS = "redis://127.0.0.1:1/0"
REFUSAL_TIMEOUT = 20


def test_worker_refuses_to_start_when_visibility_timeout_is_not_above_time_limits(tmp_path):
    # given a Redis broker whose visibility timeout (120 s) is below the 4 h training limit
    worker = CeleryWorker(
        queues=[isolated_queue("default")], workdir=tmp_path,
        env={"CELERY_BROKER_URL": UNREACHABLE_REDIS, "MLGOV_BROKER_VISIBILITY_TIMEOUT": "120",
             "MLGOV_TRAINING_TIME_LIMIT": str(4 * 3600)},
    )
    try:
        # when it starts
        status = worker.start(wait_ready=False).wait_exit(timeout=REFUSAL_TIMEOUT)
    finally:
        worker.stop()
    # then it exits with an error that says what to change
    assert status != 0
    assert (
        "mlgov worker refuses to start: Broker visibility timeout (120s) must exceed the "
        "longest hard task time limit (14400s); raise MLGOV_BROKER_VISIBILITY_TIMEOUT."
    ) in worker.log()
    assert not worker.ready_path.exists()


def test_training_worker_without_max_tasks_per_child_1_refuses_to_start(tmp_path):
    # given a worker on the training queue that would keep its child between tasks
    worker = CeleryWorker(
        queues=["training"], max_tasks_per_child=None, workdir=tmp_path,
        env={"CELERY_BROKER_URL": UNREACHABLE_REDIS},
    )
    try:
        status = worker.start(wait_ready=False).wait_exit(timeout=REFUSAL_TIMEOUT)
    finally:
        worker.stop()
    assert status != 0
    assert "must run with --max-tasks-per-child 1" in worker.log()
    assert "celery -A mlgov worker -Q training --concurrency 1 --max-tasks-per-child 1" in (
        worker.log()
    )


def test_training_command_line_runs_each_task_in_a_fresh_child(
    committed_tenant, committed_db, tmp_path
):
    # given a worker started like the training worker (mlgov/celery.py), on its own queue
    worker = CeleryWorker(
        queues=[isolated_queue("training")], concurrency=1, max_tasks_per_child=1,
        prefetch_multiplier=1, workdir=tmp_path,
    )
    nonces = [f"recycle-{index}-{uuid.uuid4().hex[:8]}" for index in range(2)]

    def all_done():
        events = selftest_events(committed_tenant.schema_name)
        ours = [event for event in events if event["nonce"] in nonces]
        return ours if len(ours) == len(nonces) else None

    try:
        worker.start()
        # when it runs two tasks
        with schema_context(committed_tenant.schema_name):
            for nonce in nonces:
                tenant_worker_selftest.apply_async(args=[nonce], queue=worker.queues[0])
        # (a recycled child may take up to 5 s to come up: billiard's pool maintenance timer)
        events = worker.wait_until(all_done, timeout=30, what="both self-test events")
    finally:
        worker.stop(graceful=False)
    # then each ran in a different child process
    assert len({event["pid"] for event in events}) == len(nonces)
