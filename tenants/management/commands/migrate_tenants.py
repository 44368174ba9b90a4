"""Migrate everything: public, the tenant template, then only the tenants that are behind,
in parallel processes. Safe to run on every start."""

import time

from django.conf import settings
from django_tenants.management.commands.migrate_schemas import MigrateSchemasCommand
from django_tenants.migration_executors import get_executor
from django_tenants.utils import schema_context

from mlgov.identity.services import role_groups_sync
from tenants.migration_status import schemas_behind
from tenants.models import Tenant
from tenants.provisioning import spare_schemas_refill, template_ensure


class Command(MigrateSchemasCommand):
    help = (
        "Migrate the public schema, the tenant template and every tenant that is behind "
        "(in parallel; tenants already up to date are skipped)."
    )

    def handle(self, *args, **options):
        started = time.monotonic()
        options["interactive"] = False
        super(MigrateSchemasCommand, self).handle(*args, **options)  # SyncCommon: parse options
        verbosity = int(options.get("verbosity", 1))

        self.stdout.write("Migrating the public schema…")
        get_executor("standard")(self.args, self.options).run_migrations(tenants=["public"])

        self.stdout.write(f"Preparing the tenant template ({settings.TENANT_BASE_SCHEMA})…")
        template_ensure(verbosity=verbosity)

        schemas = list(
            Tenant.objects.exclude(schema_name="public").values_list("schema_name", flat=True)
        )
        behind = schemas_behind(schemas)
        self.stdout.write(
            f"Tenants: {len(schemas)}, up to date: {len(schemas) - len(behind)}, "
            f"to migrate: {len(behind)}."
        )
        if behind:
            codename = "multiprocessing" if len(behind) > 1 else "standard"
            get_executor(codename)(self.args, self.options).run_migrations(tenants=list(behind))
        # Role permissions can change without a migration: bring every tenant's groups up
        # to date (a few queries per tenant).
        for schema in schemas:
            with schema_context(schema):
                role_groups_sync()
        made = spare_schemas_refill()
        if made:
            self.stdout.write(f"Prepared {made} spare tenant schema(s) for fast tenant creation.")
        self.stdout.write(
            self.style.SUCCESS(f"Migrations done in {time.monotonic() - started:.1f}s.")
        )
