from django.core.management.base import BaseCommand, CommandError

from tenants.keys import tenant_data_key_rotate
from tenants.models import Tenant


class Command(BaseCommand):
    help = "Start a new data key version for a tenant's new artifacts (old ones still decrypt)."

    def add_arguments(self, parser):
        parser.add_argument("slug")

    def handle(self, *args, **options):
        tenant = Tenant.objects.filter(slug=options["slug"]).first()
        if tenant is None:
            raise CommandError(f"No tenant with slug {options['slug']!r}.")
        row = tenant_data_key_rotate(acting_user=None, tenant=tenant)
        self.stdout.write(
            self.style.SUCCESS(
                f"Tenant {tenant.slug!r} now encrypts new artifacts with data key v{row.version}; "
                "older versions stay available for decryption."
            )
        )
