"""Tenant schemas: one migrated template, cloned for each new tenant.

Replaying every migration for a new tenant takes seconds and grows with the
project; cloning the template schema (tenants.clone_script) copies tables, indexes,
constraints, identity sequences, triggers and the template's rows (migration records,
content types, permissions, role groups) in a fraction of that.
"""

from __future__ import annotations

from django.conf import settings
from django.core.management import call_command
from django.db import connection, transaction
from django.db.migrations.executor import MigrationExecutor
from django_tenants.utils import schema_context, schema_exists

from mlgov.identity.services import role_groups_sync
from tenants.clone_script import build_clone_script, render
from tenants.spare_schemas import spare_claim, spare_target, spares_refill


def template_schema_name() -> str:
    return settings.TENANT_BASE_SCHEMA


def schema_pending_migrations(schema_name: str) -> list[tuple[str, str]]:
    """Migrations of the tenant apps that `schema_name` has not applied yet."""
    with schema_context(schema_name):
        connection.set_schema(schema_name, include_public=False)
        try:
            executor = MigrationExecutor(connection)
            targets = executor.loader.graph.leaf_nodes()
            plan = executor.migration_plan(targets)
        finally:
            connection.set_schema(schema_name)
    tenant_apps = {app.rsplit(".", 1)[-1] for app in settings.TENANT_APPS}
    return [
        (migration.app_label, migration.name)
        for migration, backwards in plan
        if not backwards and migration.app_label in tenant_apps
    ]


def template_ensure(*, verbosity: int = 1) -> bool:
    """Create or bring up to date the template schema; returns True if it changed."""
    name = template_schema_name()
    changed = False
    if not schema_exists(name):
        with connection.cursor() as cursor:
            cursor.execute(f'CREATE SCHEMA "{name}"')
        changed = True
    call_command(
        "migrate_schemas", schema_name=name, interactive=False, verbosity=max(verbosity - 1, 0)
    )
    with schema_context(name):
        role_groups_sync()
    return changed


_clone_scripts: dict[str, str] = {}


def _template_fingerprint() -> str:
    """Changes whenever a migration is applied to the template (the script then rebuilds)."""
    with connection.cursor() as cursor:
        cursor.execute(
            f'SELECT count(*), max(id) FROM "{template_schema_name()}".django_migrations'
        )
        count, last = cursor.fetchone()
    return f"{count}:{last}"


def schema_clone_from_template(schema_name: str, *, use_spare: bool = True) -> None:
    """Create `schema_name` as a copy of the template, inside the caller's transaction:
    a ready spare renamed when there is one, else a fresh clone."""
    if not schema_exists(template_schema_name()):
        from tenants.errors import TemplateMissing

        raise TemplateMissing(
            "The tenant template schema does not exist yet; run `manage.py migrate_tenants`."
        )
    connection.set_schema_to_public()
    key = _template_fingerprint()
    if use_spare and spare_target() and spare_claim(schema_name, key):
        return
    script = _clone_scripts.get(key)
    if script is None:
        with transaction.atomic():  # SET LOCAL inside stays inside
            script = build_clone_script(template_schema_name())
        _clone_scripts.clear()
        _clone_scripts[key] = script
    with connection.cursor() as cursor:
        cursor.execute(render(script, schema_name))


def spare_schemas_refill() -> int:
    """Bring the pool of spare schemas up to MLGOV_SPARE_SCHEMAS (after migrations, after
    a tenant took one)."""
    if not schema_exists(template_schema_name()):
        return 0
    connection.set_schema_to_public()
    return spares_refill(
        _template_fingerprint(), lambda name: schema_clone_from_template(name, use_spare=False)
    )


def schema_migrate_by_replay(schema_name: str, *, verbosity: int = 0) -> None:
    """The slow path, kept for the benchmark and for repairing a schema."""
    with connection.cursor() as cursor:
        cursor.execute(f'CREATE SCHEMA "{schema_name}"')
    call_command("migrate_schemas", schema_name=schema_name, interactive=False, verbosity=verbosity)
    with schema_context(schema_name):
        role_groups_sync()
