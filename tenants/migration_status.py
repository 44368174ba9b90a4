"""Which tenant schemas are behind: one graph load, one small query per schema.

migrate_schemas spends time on every tenant even when nothing is to apply
(PITFALLS.md: minutes at hundreds of tenants); this lets `migrate_tenants` skip them.
"""

from __future__ import annotations

from django.conf import settings
from django.db import connection
from django.db.migrations.loader import MigrationLoader


def required_tenant_migrations() -> set[tuple[str, str]]:
    """Every migration of the apps that live in tenant schemas."""
    loader = MigrationLoader(None, ignore_no_migrations=True)
    tenant_labels = {app.rsplit(".", 1)[-1] for app in settings.TENANT_APPS}
    # App labels that differ from the module's last part (mlgov.audit -> audit) are listed too.
    tenant_labels |= {"audit", "identity"}
    return {key for key in loader.graph.nodes if key[0] in tenant_labels}


def applied_migrations(schema_name: str) -> set[tuple[str, str]]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass(%s)", [f'"{schema_name}".django_migrations'])
        if cursor.fetchone()[0] is None:
            return set()
        cursor.execute(f'SELECT app, name FROM "{schema_name}".django_migrations')
        return {(app, name) for app, name in cursor.fetchall()}


def schemas_behind(schema_names: list[str]) -> list[str]:
    """The schemas among `schema_names` that miss at least one tenant migration."""
    required = required_tenant_migrations()
    return [name for name in schema_names if not required <= applied_migrations(name)]
