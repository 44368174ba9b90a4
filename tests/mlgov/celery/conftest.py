"""Fixtures for tests that talk to a real worker process through the real broker.

The worker sees committed data only: tests here use `committed_tenant` (and
`other_committed_tenant`) and `committed_db`, never `db`.
"""

from __future__ import annotations

import pytest
from django.conf import settings
from django.db import connection

from tests.worker_process import CeleryWorker, ensure_broker_database, isolated_queue


@pytest.fixture(scope="module")
def worker(django_db_setup, tmp_path_factory):
    """One worker per test module, on a queue of its own, four pool processes."""
    celery_worker = CeleryWorker(
        queues=[isolated_queue("default")],
        concurrency=4,
        workdir=tmp_path_factory.mktemp("worker"),
    )
    try:
        celery_worker.start()
        yield celery_worker
    finally:
        # Every test waited for its tasks: the worker is idle, no need for a slow warm stop.
        celery_worker.stop(graceful=False)


@pytest.fixture()
def queue(worker) -> str:
    """The queue the module's worker consumes."""
    return worker.queues[0]


@pytest.fixture()
def committed_db(django_db_setup, django_db_blocker):
    """Database access without a wrapping transaction: writes commit, as in production.
    The broker is ready too (the SQLAlchemy one needs its database)."""
    ensure_broker_database(settings.CELERY_BROKER_URL)
    with django_db_blocker.unblock():
        connection.set_schema_to_public()
        yield
        connection.set_schema_to_public()


@pytest.fixture()
def other_committed_tenant(committed_tenant, django_db_blocker):
    """A second committed tenant, next to `committed_tenant`."""
    from tenants.services import tenant_create

    with django_db_blocker.unblock():
        created = tenant_create(
            acting_user=None, slug=f"{committed_tenant.slug}-b", name="Other",
            owner_username="owner", owner_email="owner@other.test",
        )
        connection.set_schema_to_public()
    return created.tenant
