"""`manage.py worker_selftest --tenant <slug>` against a real worker, and without one."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from tests.mlgov.celery.audit_probe import schemas_holding, selftest_events
from tests.worker_process import delete_queue, isolated_queue

pytestmark = pytest.mark.worker


def test_selftest_reports_the_worker_that_wrote_in_the_tenant_schema(
    worker, queue, committed_tenant, committed_db
):
    # given a running worker / when an operator runs the self-test for a tenant
    out = StringIO()
    call_command(
        "worker_selftest", "--tenant", committed_tenant.slug, "--queue", queue,
        "--timeout", "20", stdout=out,
    )
    # then it names the worker and the event it wrote in the tenant's schema
    output = out.getvalue()
    events = selftest_events(committed_tenant.schema_name)
    assert len(events) == 1
    event = events[0]
    assert event["hostname"] == worker.hostname
    assert schemas_holding(event["nonce"]) == [committed_tenant.schema_name]
    assert f"Sending a self-test task (nonce {event['nonce']})" in output
    assert f"Worker {worker.hostname} (pid {event['pid']}) ran the self-test" in output
    assert f"in schema {committed_tenant.schema_name}" in output
    assert f"route tenant {committed_tenant.slug!r} correctly" in output


def test_selftest_without_a_worker_says_what_to_check(committed_tenant, committed_db):
    # given a queue no worker consumes
    nobody = isolated_queue("nobody")
    try:
        # when the self-test waits for it
        with pytest.raises(CommandError) as error:
            call_command(
                "worker_selftest", "--tenant", committed_tenant.slug, "--queue", nobody,
                "--timeout", "0.5", stdout=StringIO(),
            )
    finally:
        delete_queue(nobody)
    # then it fails and tells the operator how to start and check a worker
    message = str(error.value)
    assert "No worker answered within 0.5s" in message
    assert f"celery -A mlgov worker -Q {nobody}" in message
    assert "celery -A mlgov inspect active_queues" in message
    assert "CELERY_BROKER_URL" in message


def test_selftest_for_an_unknown_tenant_fails(committed_db):
    with pytest.raises(CommandError, match="No tenant with slug 'nope'"):
        call_command("worker_selftest", "--tenant", "nope", stdout=StringIO())
