"""Fixtures of the audit tests: events appended in a tenant's chain, and tampering as the
database superuser (behind the application's back, triggers switched off)."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import contextmanager

import pytest
from django.db import connection, transaction
from django_tenants.utils import schema_context

from mlgov.audit.models import AuditEvent
from mlgov.audit.recorder import record_event
from mlgov.audit.selectors import chain_head

TABLE = AuditEvent._meta.db_table


def append_events(tenant, count: int, *, action: str = "test.event", **fields) -> list:
    """`count` events appended to `tenant`'s chain through the recorder; their sequences."""
    sequences = []
    with schema_context(tenant.schema_name):
        for index in range(count):
            with transaction.atomic():
                event = record_event(
                    actor=None,
                    action=action,
                    object_type=fields.get("object_type", "thing"),
                    object_id=fields.get("object_id", index),
                    after={"index": index},
                )
            sequences.append(event.sequence)
    return sequences


@contextmanager
def as_superuser_behind_the_app(tenant):
    """Raw SQL in `tenant`'s schema with the append-only triggers not firing, as a
    database superuser could do. Undone with the test's transaction."""
    with schema_context(tenant.schema_name), connection.cursor() as cursor:
        cursor.execute("SET LOCAL session_replication_role = replica")
        try:
            yield cursor
        finally:
            cursor.execute("SET LOCAL session_replication_role = origin")


@pytest.fixture()
def chain_of(db) -> Callable:
    """`chain_of(tenant)`: (head sequence, head hash) of the tenant's chain."""

    def head(tenant):
        with schema_context(tenant.schema_name):
            current = chain_head()
        return current.sequence, current.event_hash

    return head


@pytest.fixture()
def committed_chain_tenant(django_db_setup, committed_tenant):
    """A fresh tenant with committed data (`committed_tenant`), the test database set up
    first even when no other test of the run has asked for it."""
    return committed_tenant
