from django.core.management.base import BaseCommand, CommandError

from tenants.errors import TenantError
from tenants.models import Plan
from tenants.services import tenant_create


class Command(BaseCommand):
    help = "Create a tenant (a clone of the template schema), its role groups and its owner."

    def add_arguments(self, parser):
        parser.add_argument(
            "slug", help="lowercase letters, digits and hyphens; the /t/<slug>/ path"
        )
        parser.add_argument("--name", required=True, help="display name of the tenant")
        parser.add_argument("--owner", required=True, help="user name of the tenant's first owner")
        parser.add_argument("--owner-email", required=True)
        parser.add_argument("--plan", default=None, help="plan name (default: standard)")

    def handle(self, *args, **options):
        plan = None
        if options["plan"]:
            plan = Plan.objects.filter(name=options["plan"]).first()
            if plan is None:
                raise CommandError(f"No plan named {options['plan']!r}.")
        try:
            created = tenant_create(
                acting_user=None,
                slug=options["slug"],
                name=options["name"],
                owner_username=options["owner"],
                owner_email=options["owner_email"],
                plan=plan,
            )
        except TenantError as error:
            raise CommandError(f"{error.code}: {error.message}") from None
        slug = created.tenant.slug
        self.stdout.write(self.style.SUCCESS(f"Created tenant {slug!r} ({created.tenant.name})."))
        self.stdout.write(f"Owner: {created.owner_username}")
        self.stdout.write(f"One-time password: {created.owner_password}")
        self.stdout.write(
            f"Next: sign in at /t/{slug}/login/ (you will choose a new password), or issue a "
            f"token with: manage.py token_issue --tenant {slug} --user {created.owner_username}"
        )
