"""A real worker runs each tenant's task in that tenant's schema, and nothing else.

One worker process (two pool children) for the module, on a queue of its own; tasks
go through the real broker (Redis, or kombu's SQLAlchemy transport on PostgreSQL).
"""

from __future__ import annotations

import uuid

import pytest
from celery import Celery
from django.db import connection, transaction
from django_tenants.utils import schema_context

from mlgov.queue import enqueue_after_commit
from tenants.tasks import tenant_worker_selftest
from tests.mlgov.celery.audit_probe import (
    audit_schemas,
    schemas_holding,
    selftest_events,
    selftest_nonces,
)

pytestmark = pytest.mark.worker

TASKS_PER_TENANT = 10


def _nonce(label: str) -> str:
    return f"{label}-{uuid.uuid4().hex[:12]}"


def test_interleaved_tasks_of_two_tenants_write_only_in_their_own_schema(
    worker, queue, committed_tenant, other_committed_tenant, committed_db
):
    # given two tenants, A and B, and their tasks sent alternately A, B, A, B, ...
    tenant_a, tenant_b = committed_tenant, other_committed_tenant
    sent = {tenant_a.schema_name: [], tenant_b.schema_name: []}
    for index in range(TASKS_PER_TENANT):
        for tenant in (tenant_a, tenant_b):
            nonce = _nonce(f"{tenant.slug}-{index}")
            with schema_context(tenant.schema_name):
                tenant_worker_selftest.apply_async(args=[nonce], queue=queue)
            sent[tenant.schema_name].append(nonce)

    # when the worker has run them all
    def all_recorded():
        return all(
            len(selftest_nonces(schema)) == TASKS_PER_TENANT for schema in sent
        )

    worker.wait_until(all_recorded, timeout=30, what="20 self-test events")

    # then each schema holds exactly its own tenant's events, and no other schema any
    for schema, nonces in sent.items():
        assert sorted(selftest_nonces(schema)) == sorted(nonces)
    every_nonce = {n for nonces in sent.values() for n in nonces}
    for schema in audit_schemas():
        if schema not in sent:
            assert not every_nonce & set(selftest_nonces(schema)), schema
    # and each event names the schema it ran in, this worker and one of its children
    for schema in sent:
        for event in selftest_events(schema):
            assert event["schema"] == schema
            assert event["hostname"] == worker.hostname
            assert event["pid"] != worker.ready_info["pid"]  # a pool child, not the parent
            assert event["task_id"]  # the delivered request reaches the task body


def _send_without_tenant_header(nonce: str, queue: str) -> str:
    """Bypass tenant-schemas-celery's send_task, which would add the current schema."""
    from mlgov.celery import app

    result = Celery.send_task(app, tenant_worker_selftest.name, args=[nonce], queue=queue)
    return result.id


def test_task_without_tenant_header_is_refused_and_writes_nothing(
    worker, queue, committed_tenant, committed_db
):
    # given a self-test message without any `_schema_name` header
    nonce = _nonce("no-header")
    task_id = _send_without_tenant_header(nonce, queue)
    # when the worker takes it
    worker.wait_for_log(f"Refused task {tenant_worker_selftest.name}[{task_id}]")
    # then it says why and writes nothing, in any schema
    assert "arrived without a tenant" in worker.log()
    assert schemas_holding(nonce) == []


def test_task_sent_from_public_schema_is_refused_and_writes_nothing(
    worker, queue, committed_tenant, committed_db
):
    # given a self-test sent while the connection is on `public`
    nonce = _nonce("public")
    result = tenant_worker_selftest.apply_async(args=[nonce], queue=queue)
    worker.wait_for_log(f"Refused task {tenant_worker_selftest.name}[{result.id}]")
    assert "arrived for the public schema" in worker.log()
    assert schemas_holding(nonce) == []


def test_task_for_unknown_schema_is_refused_and_writes_nothing(
    worker, queue, committed_tenant, committed_db
):
    # given a message for a schema no tenant has (a deleted tenant, a forged header):
    # tenant-schemas-celery's lookup fails inside a signal, which Celery only logs
    nonce = _nonce("ghost")
    result = tenant_worker_selftest.apply_async(
        args=[nonce], queue=queue, headers={"_schema_name": "t_no_such_tenant"}
    )
    worker.wait_for_log(f"Refused task {tenant_worker_selftest.name}[{result.id}]")
    assert "could not switch to it" in worker.log()
    assert schemas_holding(nonce) == []


def test_enqueue_after_commit_sends_nothing_when_the_transaction_rolls_back(
    worker, queue, committed_tenant, committed_db
):
    # given a self-test enqueued in a transaction that then rolls back
    rolled_back = _nonce("rolled-back")
    with schema_context(committed_tenant.schema_name):
        with transaction.atomic():
            enqueue_after_commit(tenant_worker_selftest, rolled_back, queue=queue)
            transaction.set_rollback(True)  # the change failed
        # and, after it, one that commits
        committed = _nonce("committed")
        with transaction.atomic():
            enqueue_after_commit(tenant_worker_selftest, committed, queue=queue)
    # when the committed one has run (the queue is FIFO, so the other would be done too)
    worker.wait_until(
        lambda: committed in selftest_nonces(committed_tenant.schema_name),
        what="the committed self-test",
    )
    # then the rolled-back one was never sent
    assert schemas_holding(rolled_back) == []
    assert schemas_holding(committed) == [committed_tenant.schema_name]


def test_enqueue_after_commit_carries_the_tenant_of_the_call_not_of_the_commit(
    worker, queue, committed_tenant, other_committed_tenant, committed_db
):
    # given a self-test enqueued while in A, in a transaction that commits while in B
    nonce = _nonce("captured")
    with transaction.atomic():
        connection.set_schema(committed_tenant.schema_name)
        enqueue_after_commit(tenant_worker_selftest, nonce, queue=queue)
        connection.set_schema(other_committed_tenant.schema_name)
    # when the worker runs it
    worker.wait_until(lambda: schemas_holding(nonce), what="the self-test")
    # then it ran for A
    assert schemas_holding(nonce) == [committed_tenant.schema_name]


def test_a_redelivered_selftest_records_one_event(worker, queue, committed_tenant, committed_db):
    # given the same self-test delivered twice (as after a lost acknowledgement)
    nonce = _nonce("twice")
    with schema_context(committed_tenant.schema_name):
        first = tenant_worker_selftest.apply_async(args=[nonce], queue=queue)
        second = tenant_worker_selftest.apply_async(args=[nonce], queue=queue)
    for result in (first, second):
        worker.wait_for_log(f"Task {tenant_worker_selftest.name}[{result.id}] succeeded")
    # then one event exists
    assert selftest_nonces(committed_tenant.schema_name).count(nonce) == 1
