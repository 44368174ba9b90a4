"""The audit table is append-only at the database: UPDATE, DELETE and TRUNCATE fail,
whatever the application does, in tenant schemas and in `public`."""

from __future__ import annotations

import pytest
from django.db import DatabaseError, connection, transaction
from django_tenants.utils import schema_context

from mlgov.audit.models import AuditEvent
from tests.mlgov.audit.conftest import TABLE

STATEMENTS = {
    "update": f"UPDATE {TABLE} SET action = 'forged' WHERE sequence = 1",
    "delete": f"DELETE FROM {TABLE} WHERE sequence = 1",
    "truncate": f"TRUNCATE {TABLE}",
}


@pytest.mark.parametrize("schema", ["tenant", "public"])
@pytest.mark.parametrize("operation", list(STATEMENTS))
def test_changing_or_removing_events_fails_at_the_database(alpha, schema, operation):
    schema_name = alpha.schema_name if schema == "tenant" else "public"
    with schema_context(schema_name):
        before = list(AuditEvent.objects.values_list("sequence", "action", "event_hash"))
        assert before, "the chain has events to protect"
        # when raw SQL tries to change the table (in a savepoint, so the test goes on)
        with pytest.raises(DatabaseError, match="append-only"):
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute(STATEMENTS[operation])
        # then nothing changed
        assert list(AuditEvent.objects.values_list("sequence", "action", "event_hash")) == before
