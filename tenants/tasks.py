"""Tenant tasks of the platform itself.

`tenant_worker_selftest` proves, end to end, that a worker receives a tenant's
message, switches to that tenant's schema and writes there: operators run it with
`manage.py worker_selftest --tenant <slug>`.
"""

from __future__ import annotations

import os
import socket

from celery import shared_task
from django.db import connection, transaction

from mlgov.audit.models import AuditEvent
from mlgov.audit.recorder import record_event
from mlgov.queue import TenantBoundTask
from tenants.audit_anchoring import audit_anchor_heads  # noqa: F401  (registers the beat task)

SELFTEST_ACTION = "worker.selftest"
SELFTEST_OBJECT_TYPE = "worker_selftest"
NONCE_MAX_LENGTH = 64  # stored as the event's object_id (100 characters)


@transaction.atomic
def worker_selftest_record(*, nonce: str, hostname: str, pid: int, task_id: str | None) -> bool:
    """Record `worker.selftest` for `nonce` in the current tenant's chain, once.

    Returns False when the event exists already (a redelivered message writes nothing).
    """
    if not nonce or len(nonce) > NONCE_MAX_LENGTH:
        raise ValueError(f"nonce must be 1 to {NONCE_MAX_LENGTH} characters")
    with connection.cursor() as cursor:
        # Serialises deliveries of the same nonce, so the check below sees the other's row.
        cursor.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [f"{SELFTEST_ACTION}:{nonce}"])
    if AuditEvent.objects.filter(action=SELFTEST_ACTION, object_id=nonce).exists():
        return False
    record_event(
        actor=None,
        action=SELFTEST_ACTION,
        object_type=SELFTEST_OBJECT_TYPE,
        object_id=nonce,
        after={
            "nonce": nonce,
            "hostname": hostname,
            "pid": pid,
            "task_id": task_id,
            "schema": connection.schema_name,
        },
    )
    return True


@shared_task(
    base=TenantBoundTask,
    bind=True,
    name="tenants.tasks.tenant_worker_selftest",
    time_limit=60,
    soft_time_limit=50,
)
def tenant_worker_selftest(self, nonce: str) -> dict:
    """Write a `worker.selftest` audit event in the tenant's schema, naming this worker."""
    hostname = self.request.hostname or socket.gethostname()
    pid = os.getpid()
    recorded = worker_selftest_record(
        nonce=nonce, hostname=hostname, pid=pid, task_id=self.request.id
    )
    return {"nonce": nonce, "hostname": hostname, "pid": pid, "recorded": recorded}


@shared_task(name="tenants.spare_schemas_refill", time_limit=600, soft_time_limit=570)
def spare_schemas_refill_task() -> int:
    """Platform task: make spare tenant schemas after a tenant took one."""
    from tenants.provisioning import spare_schemas_refill

    return spare_schemas_refill()
