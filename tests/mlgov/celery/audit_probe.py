"""Read the audit tables of every schema directly (schema-qualified, not via search_path),
to see where a worker really wrote."""

from __future__ import annotations

import json

from django.db import connection

AUDIT_TABLE = "audit_auditevent"


def audit_schemas() -> list[str]:
    """Every schema holding an audit table: public, the template and each tenant."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT table_schema FROM information_schema.tables WHERE table_name = %s",
            [AUDIT_TABLE],
        )
        return sorted(row[0] for row in cursor.fetchall())


def selftest_nonces(schema: str) -> list[str]:
    """The nonces of the `worker.selftest` events in exactly `schema` (not via search_path)."""
    quote = connection.ops.quote_name
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT object_id FROM {quote(schema)}.{quote(AUDIT_TABLE)} "
            "WHERE action = 'worker.selftest' ORDER BY sequence"
        )
        return [row[0] for row in cursor.fetchall()]


def selftest_events(schema: str) -> list[dict]:
    """The `after` payloads of the `worker.selftest` events in exactly `schema`."""
    quote = connection.ops.quote_name
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT after FROM {quote(schema)}.{quote(AUDIT_TABLE)} "
            "WHERE action = 'worker.selftest' ORDER BY sequence"
        )
        return [json.loads(row[0]) for row in cursor.fetchall()]


def schemas_holding(nonce: str) -> list[str]:
    """Every schema where a self-test event for `nonce` was written."""
    return [schema for schema in audit_schemas() if nonce in selftest_nonces(schema)]
