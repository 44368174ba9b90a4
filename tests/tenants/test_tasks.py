"""tenants.tasks.tenant_worker_selftest, run in this process through Celery's tracer
(`apply`: the same signals and TenantBoundTask checks as in a worker, no broker).

The same task against a real worker process: tests/mlgov/celery/.
"""

from __future__ import annotations

import os

import pytest
from django.db import connection
from django_tenants.utils import schema_context

from mlgov.audit.models import AuditEvent
from mlgov.queue import MissingTenant
from tenants.tasks import SELFTEST_ACTION, tenant_worker_selftest, worker_selftest_record


def _selftests(schema_name: str) -> list[AuditEvent]:
    with schema_context(schema_name):
        return list(AuditEvent.objects.filter(action=SELFTEST_ACTION))


def test_selftest_records_the_worker_in_the_tenant_schema(alpha, beta):
    # given a message for alpha / when it runs
    result = tenant_worker_selftest.apply(
        args=["n-alpha"], headers={"_schema_name": alpha.schema_name}
    )
    # then alpha's chain holds one event naming the task, this process and the schema
    assert result.successful(), result.traceback
    [event] = _selftests(alpha.schema_name)
    assert event.object_type == "worker_selftest"
    assert event.object_id == "n-alpha"
    assert event.actor_username == "system"
    assert event.after["nonce"] == "n-alpha"
    assert event.after["pid"] == os.getpid()
    assert event.after["schema"] == alpha.schema_name
    assert event.after["task_id"] == result.id  # the delivered request reaches the body
    assert event.after["hostname"]
    assert result.result["recorded"] is True
    # and nothing anywhere else
    assert _selftests(beta.schema_name) == []
    assert _selftests("public") == []
    # and the connection is back where it was
    assert connection.schema_name == "public"


def test_selftest_for_the_same_nonce_records_once(alpha):
    headers = {"_schema_name": alpha.schema_name}
    first = tenant_worker_selftest.apply(args=["n-twice"], headers=headers)
    second = tenant_worker_selftest.apply(args=["n-twice"], headers=headers)
    assert first.result["recorded"] is True
    assert second.result["recorded"] is False
    assert len(_selftests(alpha.schema_name)) == 1


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        ({}, "arrived for the public schema"),  # sent from public: the header says so
        ({"_schema_name": "public"}, "arrived for the public schema"),
        ({"_schema_name": "t_no_such_tenant"}, "could not switch to it"),
    ],
)
def test_selftest_without_a_tenant_is_rejected_and_writes_nothing(
    alpha, beta, headers, reason, caplog
):
    connection.set_schema_to_public()
    result = tenant_worker_selftest.apply(args=["n-none"], headers=headers)
    assert result.state == "REJECTED"
    assert reason in caplog.text
    for schema in ("public", alpha.schema_name, beta.schema_name):
        assert _selftests(schema) == []


def test_selftest_called_directly_uses_the_callers_tenant(alpha):
    with schema_context(alpha.schema_name):
        outcome = tenant_worker_selftest("n-direct")
    assert outcome["recorded"] is True
    assert [e.object_id for e in _selftests(alpha.schema_name)] == ["n-direct"]


def test_selftest_called_directly_outside_a_tenant_refuses(db):
    connection.set_schema_to_public()
    with pytest.raises(MissingTenant):
        tenant_worker_selftest("n-direct")
    assert _selftests("public") == []


@pytest.mark.parametrize("nonce", ["", "x" * 65])
def test_selftest_record_refuses_a_bad_nonce(alpha, nonce):
    with schema_context(alpha.schema_name), pytest.raises(ValueError, match="nonce"):
        worker_selftest_record(nonce=nonce, hostname="h", pid=1, task_id=None)
