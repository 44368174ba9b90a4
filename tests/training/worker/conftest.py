"""A real training worker (`celery -A mlgov worker`, one task per child process) for the
module, on a queue of its own that the job services in this process send to."""

from __future__ import annotations

import pytest

from tests.worker_process import CeleryWorker, ensure_broker_database, isolated_queue

# Heartbeats every second so the watchdog can tell a silent job quickly; two deliveries
# at most (the production default is 3) to keep the give-up test short.
MAX_DELIVERIES = 2
WORKER_ENV = {
    "MLGOV_JOB_HEARTBEAT_SECONDS": "1",
    "MLGOV_JOB_STALE_SECONDS": "3",
    "MLGOV_JOB_MAX_DELIVERIES": str(MAX_DELIVERIES),
}


def training_worker(workdir, *, queues: list[str], concurrency: int = 2) -> CeleryWorker:
    return CeleryWorker(
        queues=queues,
        concurrency=concurrency,
        max_tasks_per_child=1,  # as in production: a fresh child per training task
        env=WORKER_ENV,
        workdir=workdir,
    )


@pytest.fixture(scope="module")
def doomed_worker(django_db_setup, tmp_path_factory):
    """A second worker, on a queue of its own, for the test that kills a whole worker. It
    starts in the background with the module's worker (both take seconds to start)."""
    from django.conf import settings

    ensure_broker_database(settings.CELERY_BROKER_URL)
    doomed = training_worker(
        tmp_path_factory.mktemp("doomed-worker"), queues=[isolated_queue("training")],
        concurrency=1,
    )
    try:
        doomed.start(wait_ready=False)
        yield doomed
    finally:
        doomed.stop(graceful=False)


@pytest.fixture(scope="module")
def worker(doomed_worker, tmp_path_factory):
    celery_worker = training_worker(
        tmp_path_factory.mktemp("training-worker"), queues=[isolated_queue("training")]
    )
    try:
        celery_worker.start()
        yield celery_worker
    finally:
        celery_worker.stop(graceful=False)


@pytest.fixture()
def training_queue(worker, settings):
    """Jobs submitted in this process go to the module worker's queue."""
    settings.MLGOV_TRAINING_QUEUE = worker.queues[0]
    settings.MLGOV_JOB_HEARTBEAT_SECONDS = 1
    return worker.queues[0]
