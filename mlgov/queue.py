"""Tenant-bound Celery tasks and enqueueing after commit (kernel: apps import this).

Every tenant task carries its tenant's schema in the `_schema_name` header
(tenant-schemas-celery). A task that arrives without a tenant, or for the public
schema, refuses to run: nothing may touch a tenant's data without knowing whose it is.
"""

from __future__ import annotations

from typing import Any

from celery import Task
from celery.exceptions import Reject
from django.db import connection, transaction
from tenant_schemas_celery.task import TenantTask


class MissingTenant(Exception):
    """A tenant task was delivered without a tenant."""


class TenantBoundTask(TenantTask):
    """Base for every task that works on a tenant's data."""

    abstract = True

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        schema = connection.schema_name
        if not schema or schema == "public":
            # Rejected without requeue: redelivering it would not give it a tenant.
            raise Reject(MissingTenant(f"Task {self.name} arrived without a tenant"), requeue=False)
        return super().__call__(*args, **kwargs)


def enqueue_after_commit(task: Task, *args: Any, **options: Any) -> None:
    """Send `task` when the current transaction commits, for the current tenant.

    The schema is captured now, not at commit time, so a later schema switch in the
    same thread cannot send it to the wrong tenant.
    """
    schema = connection.schema_name
    headers = {**options.pop("headers", {}), "_schema_name": schema}
    transaction.on_commit(lambda: task.apply_async(args=args, headers=headers, **options))
