"""Concurrent writers on committed data: 50 threads, each with its own connection and
its own transaction, build one linear chain; the commit waits for the WAL flush."""

from __future__ import annotations

import threading

from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django_tenants.utils import schema_context

from mlgov.audit.models import AuditEvent
from mlgov.audit.recorder import record_event
from mlgov.audit.verify import chain_verify

WRITERS = 50


def test_fifty_concurrent_writers_make_one_linear_chain(committed_chain_tenant):
    with schema_context(committed_chain_tenant.schema_name):
        before = AuditEvent.objects.count()
    barrier = threading.Barrier(WRITERS)
    errors: list[BaseException] = []

    def write(index: int) -> None:
        try:
            connection.set_schema(committed_chain_tenant.schema_name)  # this thread's connection
            barrier.wait(timeout=30)
            with transaction.atomic():
                record_event(actor=None, action="concurrency.write", object_id=index)
        except BaseException as error:  # reported by the main thread
            errors.append(error)
        finally:
            connection.close()

    # when fifty writers append at the same moment
    threads = [threading.Thread(target=write, args=(i,)) for i in range(WRITERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors
    # then every event is in one chain: sequences 1..N without gap or fork, all verified
    with schema_context(committed_chain_tenant.schema_name):
        sequences = list(AuditEvent.objects.order_by("sequence").values_list("sequence", flat=True))
        written = AuditEvent.objects.filter(action="concurrency.write")
        assert sorted(written.values_list("object_id", flat=True), key=int) == [
            str(i) for i in range(WRITERS)
        ]
        report = chain_verify()
    assert sequences == list(range(1, before + WRITERS + 1))
    assert report.is_whole, report.summary()
    assert report.events_verified == before + WRITERS


def test_a_committed_event_waits_for_one_wal_flush_per_transaction(committed_chain_tenant):
    # given a transaction that records two events
    with schema_context(committed_chain_tenant.schema_name), CaptureQueriesContext(connection) as q:
        with transaction.atomic():
            record_event(actor=None, action="flush.one")
            record_event(actor=None, action="flush.two")
    # then the append commits asynchronously and one flush follows the commit
    statements = [query["sql"] for query in q.captured_queries]
    assert sum("synchronous_commit TO off" in sql for sql in statements) == 2
    flushes = [i for i, sql in enumerate(statements) if "pg_logical_emit_message" in sql]
    assert len(flushes) == 1
    assert statements[flushes[0] - 1] == "COMMIT"
