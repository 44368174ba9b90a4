from django.core.management.base import BaseCommand, CommandError

from tenants.models import Tenant
from tenants.services import tenant_delete


class Command(BaseCommand):
    help = (
        "Delete a tenant for good: destroy its keys (its artifacts can never be decrypted "
        "again), drop its schema, remove its artifact folder. Irreversible."
    )

    def add_arguments(self, parser):
        parser.add_argument("slug")
        parser.add_argument(
            "--confirm", required=True, help="the slug once more: nothing happens otherwise"
        )
        parser.add_argument("--reason", required=True, help="kept in the public audit log")

    def handle(self, *args, **options):
        slug = options["slug"]
        if options["confirm"] != slug:
            raise CommandError(
                f"Deleting a tenant is irreversible; repeat its slug: --confirm {slug}"
            )
        if not options["reason"].strip():
            raise CommandError("--reason must not be empty.")
        tenant = Tenant.objects.filter(slug=slug).exclude(schema_name="public").first()
        if tenant is None:
            gone = Tenant.all_objects.filter(slug=slug, status=Tenant.Status.DELETED).exists()
            raise CommandError(
                f"Tenant {slug!r} was deleted already." if gone else f"No tenant {slug!r}."
            )
        self.stdout.write(f"Suspending {slug!r}, destroying its keys, dropping its schema…")
        tenant_delete(acting_user=None, tenant=tenant, reason=options["reason"][:500])
        self.stdout.write(
            self.style.SUCCESS(
                f"Deleted tenant {slug!r}: keys destroyed, schema {tenant.schema_name!r} "
                "dropped, artifact folder removed."
            )
        )
        self.stdout.write(
            "Its slug stays reserved. Backups made before now still hold its wrapped keys "
            "under the current master key: rotate the master key (docs/operations/keys.md) "
            "to make them useless."
        )
