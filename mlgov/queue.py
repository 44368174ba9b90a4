"""Tenant-bound Celery tasks and enqueueing after commit (kernel: apps import this).

Every tenant task carries its tenant's schema in the `_schema_name` header
(tenant-schemas-celery). A task that arrives without a tenant, or for the public
schema, refuses to run: nothing may touch a tenant's data without knowing whose it is.

How the tenant reaches the task body, in the worker:

1. tenant-schemas-celery's `task_prerun` receiver reads the header and switches the
   connection to that tenant's schema (public when the header is missing);
2. Celery's tracer then calls `TenantBoundTask.__call__`, which checks the header
   itself and that the switch really happened. The header is the truth: Celery logs
   and swallows exceptions of signal receivers, so a tenant that cannot be loaded
   (deleted, unknown schema) leaves the connection in `public` without any error.
"""

from __future__ import annotations

import logging
from typing import Any

from celery import Task
from celery.exceptions import Reject
from django.db import connection, transaction
from tenant_schemas_celery.app import get_schema_name_from_task
from tenant_schemas_celery.task import TenantTask

logger = logging.getLogger(__name__)

PUBLIC_SCHEMA = "public"
SCHEMA_HEADER = "_schema_name"


class MissingTenant(Exception):
    """A tenant task was delivered (or enqueued) without a tenant."""


class TenantBoundTask(TenantTask):
    """Base for every task that works on a tenant's data.

    Use it through Celery's `shared_task(base=TenantBoundTask, ...)` and send it with
    `enqueue_after_commit` from inside the tenant's schema.
    """

    abstract = True

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if not self.request.called_directly:
            self._refuse_without_tenant()
        elif connection.schema_name in (None, PUBLIC_SCHEMA):
            # A plain function call in this process (tests, a shell): no message, so
            # the tenant is the schema the caller is in.
            raise MissingTenant(f"Task {self.name} was called outside a tenant schema")
        return super().__call__(*args, **kwargs)

    def _refuse_without_tenant(self) -> None:
        header = get_schema_name_from_task(self, None)
        if not header or header == PUBLIC_SCHEMA:
            reason = "arrived without a tenant" if not header else "arrived for the public schema"
        elif connection.schema_name != header:
            reason = (
                f"is for schema {header!r}, but the worker could not switch to it "
                f"(unknown or deleted tenant?); the connection is on {connection.schema_name!r}"
            )
        else:
            return
        message = f"Refused task {self.name}[{self.request.id}]: it {reason}"
        logger.error(message)
        # Rejected without requeue: redelivering it would not give it a tenant.
        raise Reject(MissingTenant(message), requeue=False)


def enqueue_after_commit(task: Task, *args: Any, **options: Any) -> None:
    """Send `task` with positional `args` when the current transaction commits.

    The tenant is the schema the caller is in *now*, not at commit time, so a later
    schema switch in the same transaction cannot send it to the wrong tenant. If the
    transaction rolls back nothing is sent. Outside a transaction it is sent at once.
    `options` go to `apply_async` (`kwargs=`, `queue=`, `countdown=`, ...).
    """
    schema = connection.schema_name
    if isinstance(task, TenantBoundTask) and schema in (None, PUBLIC_SCHEMA):
        raise MissingTenant(f"enqueue_after_commit({task.name}) called outside a tenant schema")
    headers = {**(options.pop("headers", None) or {}), SCHEMA_HEADER: schema}
    transaction.on_commit(lambda: task.apply_async(args=args, headers=headers, **options))
